#include <catch2/catch.hpp>

#include <set>
#include <thread>
#include <vector>

#include "core/scratch.hpp"

using tianshu::core::Scratch;

namespace {
bool keep_small(std::vector<int>& v) {
    v.clear();
    return v.capacity() <= 1000;
}
using Buffers = Scratch<std::vector<int>, &keep_small, 2>;
}  // namespace

TEST_CASE("scratch: a buffer comes back emptied, with its capacity, to the next user",
          "[core][scratch]") {
    const int* storage = nullptr;
    {
        auto b = Buffers::acquire();
        b->assign(100, 7);
        storage = b->data();
    }
    auto again = Buffers::acquire();
    CHECK(again->empty());
    CHECK(again->capacity() >= 100);
    CHECK(again->data() == storage);  // the same allocation: no malloc this time
}

TEST_CASE("scratch: nested users each get their own buffer", "[core][scratch]") {
    auto outer = Buffers::acquire();
    outer->push_back(1);
    auto inner = Buffers::acquire();  // e.g. a strategy calling a model mid-answer
    CHECK(inner.get() != outer.get());
    inner->push_back(2);
    CHECK(*outer == std::vector<int>{1});
    CHECK(*inner == std::vector<int>{2});
}

TEST_CASE("scratch: the pool is bounded, and an oversized buffer is not kept", "[core][scratch]") {
    // Addresses say nothing (malloc hands freed memory out again): a pooled buffer is known by
    // the capacity it kept; a new one has none.
    {  // empty the pool of what earlier cases left: held, then freed for good
        std::vector<Buffers::Handle> held;
        do held.push_back(Buffers::acquire());
        while (held.back()->capacity() > 0);
        for (auto& h : held) h->shrink_to_fit();  // given back without capacity: "new" below
    }
    {
        auto a = Buffers::acquire(), b = Buffers::acquire(), c = Buffers::acquire();
        a->reserve(101);
        b->reserve(102);
        c->reserve(103);
    }  // three given back, at most two kept
    auto x = Buffers::acquire(), y = Buffers::acquire(), z = Buffers::acquire();
    int pooled = 0;
    for (auto* p : {x.get(), y.get(), z.get()}) pooled += p->capacity() > 0 ? 1 : 0;
    CHECK(pooled == 2);

    x->assign(5000, 1);  // grew past what keep_small keeps
    x.reset();
    y.reset();
    z.reset();
    auto first = Buffers::acquire(), second = Buffers::acquire(), third = Buffers::acquire();
    for (auto* p : {first.get(), second.get(), third.get()}) CHECK(p->capacity() < 5000);
}

TEST_CASE("scratch: a buffer released on another thread joins that thread's pool",
          "[core][scratch]") {
    auto moved = Buffers::acquire();
    moved->push_back(3);
    std::thread([&] {
        moved.reset();  // given back here, into this thread's pool
        auto here = Buffers::acquire();
        CHECK(here->empty());
    }).join();
    auto mine = Buffers::acquire();
    CHECK(mine->empty());
}
