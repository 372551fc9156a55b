#include "store/prices.hpp"

#include "store/settings.hpp"

#include <soci/soci.h>

#include <utility>

namespace tianshu::store::prices {

namespace {
core::Result<void> validate(const Price& price) {
    if (price.model.empty())
        return core::Error::invalid("a price needs a model name or pattern: pass --model");
    if (price.model.size() > 255)
        return core::Error::invalid("model '" + price.model.substr(0, 40) +
                                    "...' is longer than 255 characters");
    const std::pair<const char*, long long> amounts[] = {
        {"input_per_m", price.input_per_m},
        {"output_per_m", price.output_per_m},
        {"cache_read_per_m", price.cache_read_per_m},
        {"cache_write_per_m", price.cache_write_per_m},
        {"reasoning_per_m", price.reasoning_per_m},
        {"per_call", price.per_call}};
    for (const auto& [field, value] : amounts)
        if (value < 0)
            return core::Error::invalid("price of '" + price.model + "': " + field + " " +
                                        std::to_string(value) + " is negative: give micros >= 0");
    return {};
}
}  // namespace

core::Result<Price> upsert(Database& db, const Price& price) {
    if (auto ok = validate(price); !ok) return ok.take_error();
    return db.with_transaction("save the price of '" + price.model + "'", [&](soci::session& s) {
        bump_config_revision(s);
        return upsert(s, price);
    });
}

Price upsert(soci::session& s, const Price& price) {
    if (auto ok = validate(price); !ok) throw StoreFailure(ok.take_error());
    const char* sql =
        s.get_backend_name() == "mysql"
            ? "INSERT INTO prices (model, input_per_m, output_per_m, cache_read_per_m, "
              "cache_write_per_m, reasoning_per_m, per_call, updated_at) VALUES (:model, :i, :o, "
              ":cr, :cw, :r, :c, :at) ON DUPLICATE KEY UPDATE input_per_m = VALUES(input_per_m), "
              "output_per_m = VALUES(output_per_m), cache_read_per_m = VALUES(cache_read_per_m), "
              "cache_write_per_m = VALUES(cache_write_per_m), reasoning_per_m = "
              "VALUES(reasoning_per_m), per_call = VALUES(per_call), updated_at = "
              "VALUES(updated_at)"
            : "INSERT INTO prices (model, input_per_m, output_per_m, cache_read_per_m, "
              "cache_write_per_m, reasoning_per_m, per_call, updated_at) VALUES (:model, :i, :o, "
              ":cr, :cw, :r, :c, :at) ON CONFLICT (model) DO UPDATE SET input_per_m = "
              "excluded.input_per_m, output_per_m = excluded.output_per_m, cache_read_per_m = "
              "excluded.cache_read_per_m, cache_write_per_m = excluded.cache_write_per_m, "
              "reasoning_per_m = excluded.reasoning_per_m, per_call = excluded.per_call, "
              "updated_at = excluded.updated_at";
    Price saved = price;
    saved.updated_at = now_seconds();
    s << sql, soci::use(saved.model), soci::use(saved.input_per_m), soci::use(saved.output_per_m),
        soci::use(saved.cache_read_per_m), soci::use(saved.cache_write_per_m),
        soci::use(saved.reasoning_per_m), soci::use(saved.per_call), soci::use(saved.updated_at);
    return saved;
}

std::optional<Price> find(soci::session& s, std::string_view model) {
    std::string key(model);
    Price p;
    s << "SELECT model, input_per_m, output_per_m, cache_read_per_m, cache_write_per_m, "
         "reasoning_per_m, per_call, updated_at FROM prices WHERE model = :model",
        soci::use(key), soci::into(p.model), soci::into(p.input_per_m), soci::into(p.output_per_m),
        soci::into(p.cache_read_per_m), soci::into(p.cache_write_per_m),
        soci::into(p.reasoning_per_m), soci::into(p.per_call), soci::into(p.updated_at);
    if (!s.got_data()) return std::nullopt;
    return p;
}

core::Result<std::vector<Price>> list(Database& db) {
    return db.with_session("list prices", [&](soci::session& s) {
        Price p;
        std::vector<Price> out;
        soci::statement st =
            (s.prepare << "SELECT model, input_per_m, output_per_m, cache_read_per_m, "
                          "cache_write_per_m, reasoning_per_m, per_call, updated_at FROM prices "
                          "ORDER BY model",
             soci::into(p.model), soci::into(p.input_per_m), soci::into(p.output_per_m),
             soci::into(p.cache_read_per_m), soci::into(p.cache_write_per_m),
             soci::into(p.reasoning_per_m), soci::into(p.per_call), soci::into(p.updated_at));
        st.execute(false);
        while (st.fetch()) out.push_back(p);
        return out;
    });
}

core::Result<void> remove(Database& db, std::string_view model) {
    std::string key(model);
    return db.with_transaction("remove the price of '" + key + "'", [&](soci::session& s) {
        bump_config_revision(s);
        soci::statement st =
            (s.prepare << "DELETE FROM prices WHERE model = :model", soci::use(key));
        st.execute(true);
        if (st.get_affected_rows() == 0)
            throw StoreFailure({core::ErrorKind::not_found,
                                "there is no price for '" + key +
                                    "': list the prices to see the models and patterns",
                                {}});
    });
}

}  // namespace tianshu::store::prices
