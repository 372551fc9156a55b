#include "hub/usage_journal.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <utility>

#include "core/json_write.hpp"
#include "core/log.hpp"
#include "core/request.hpp"
#include "core/thread_priority.hpp"

namespace tianshu::hub {

namespace fs = std::filesystem;
using core::Json;

namespace {

constexpr size_t kBatch = 500;
constexpr const char* kLockFile = "lock";

//! A name no other process picks: the pid (unique among live processes) and random bits (a
//! dead process's directory may still carry the same pid).
std::string process_directory_name() {
    std::random_device random;
    char suffix[9];
    std::snprintf(suffix, sizeof suffix, "%08x", random());
    return "gw-" + std::to_string(::getpid()) + "-" + suffix;
}

fs::path segment_path(const fs::path& dir, int64_t n) {
    return dir / ("usage-" + std::to_string(n) + ".jsonl");
}

//! The segment number of a journal file name, or -1 for anything else.
int64_t segment_number(const fs::path& p) {
    const std::string name = p.filename().string();
    if (name.rfind("usage-", 0) != 0 || p.extension() != ".jsonl") return -1;
    const std::string digits = name.substr(6, name.size() - 6 - 6);
    if (digits.empty() || !std::all_of(digits.begin(), digits.end(), ::isdigit)) return -1;
    return std::stoll(digits);
}

// A batch whose oldest record waited longer than this is written at normal priority: the journal
// has fallen behind (a CPU busy all the time leaves an idle-priority thread nothing); and no step
// stays at idle priority longer than this (core::IdlePriorityScope's bound).
constexpr auto kCatchUp = std::chrono::seconds(1);

core::Result<void> write_batches(store::Database& db, const std::vector<store::UsageRecord>& all) {
    for (size_t i = 0; i < all.size(); i += kBatch) {
        std::vector<store::UsageRecord> batch(
            all.begin() + static_cast<std::ptrdiff_t>(i),
            all.begin() + static_cast<std::ptrdiff_t>(std::min(all.size(), i + kBatch)));
        auto done = store::request_logs::record_usage(db, batch);
        if (!done) return done.take_error();
    }
    return {};
}

//! True when the oldest record of `batch` (the first: the queue keeps arrival order) has waited
//! longer than kCatchUp.
bool fallen_behind(const std::vector<store::UsageRecord>& batch) {
    if (batch.empty()) return false;
    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    return now_ms - batch.front().created_at_ms >
           std::chrono::duration_cast<std::chrono::milliseconds>(kCatchUp).count();
}

}  // namespace

// Written field by field: building a nlohmann object per request cost ~60k instructions. The
// keys come in sorted order and values are written as nlohmann writes them, so the line is the
// one the nlohmann object gave, byte for byte (a sorted map); decode reads both alike.
std::string UsageJournal::encode(const store::UsageRecord& r) {
    std::string out;
    out.reserve(300 + r.route_model.size() + r.route_reason.size() + r.decisions.size() +
                r.request_id.size() + r.channel.size() + r.requested_model.size() +
                r.upstream_model.size() + r.error_kind.size() + r.client_ip.size() +
                r.proxy.size());
    const auto number = [&](std::string_view key, long long v) {
        out += key;
        core::append_json_number(out, static_cast<int64_t>(v));
    };
    const auto text = [&](std::string_view key, const std::string& v) {
        out += key;
        core::append_json_quoted(out, v);
    };
    number("{\"at\":", r.created_at_ms);
    text(",\"channel\":", r.channel);
    if (r.channel_key_id) number(",\"channel_key\":", *r.channel_key_id);
    number(",\"cost\":", r.cost);
    number(",\"cr\":", r.cache_read_tokens);
    number(",\"cw\":", r.cache_write_tokens);
    if (!r.decisions.empty()) text(",\"decisions\":", r.decisions);
    text(",\"err\":", r.error_kind);
    text(",\"id\":", r.request_id);
    number(",\"in\":", r.input_tokens);
    text(",\"ip\":", r.client_ip);
    if (r.key_id) number(",\"key\":", *r.key_id);
    text(",\"model\":", r.requested_model);
    number(",\"ms\":", r.latency_ms);
    number(",\"out\":", r.output_tokens);
    if (!r.proxy.empty()) text(",\"proxy\":", store::proxy_origin(r.proxy));
    number(",\"retries\":", r.retries);
    // The route decision, when the request got as far as one.
    if (!r.route_scenario.empty()) {
        text(",\"route_by\":", r.route_by);
        text(",\"route_model\":", r.route_model);
        number(",\"route_rank\":", r.route_rank);
        text(",\"route_reason\":", r.route_reason);
        text(",\"route_scenario\":", r.route_scenario);
    }
    number(",\"rs\":", r.reasoning_tokens);
    number(",\"status\":", r.status);
    out += r.stream ? ",\"stream\":true" : ",\"stream\":false";
    number(",\"ttft\":", r.ttft_ms);
    text(",\"upstream\":", r.upstream_model);
    number(",\"user\":", r.user_id);
    out += "}\n";
    return out;
}

core::Result<store::UsageRecord> UsageJournal::decode(std::string_view line) {
    Json j = Json::parse(line.begin(), line.end(), nullptr, false);
    if (!j.is_object() || !j.contains("id") || !j["id"].is_string())
        return core::Error::invalid("usage journal line is not a record");
    try {
        store::UsageRecord r;
        r.request_id = j.at("id").get<std::string>();
        r.created_at_ms = j.value("at", 0LL);
        r.user_id = j.value("user", 0LL);
        if (j.contains("key")) r.key_id = j["key"].get<long long>();
        r.channel = j.value("channel", "");
        r.requested_model = j.value("model", "");
        r.upstream_model = j.value("upstream", "");
        r.input_tokens = j.value("in", 0LL);
        r.output_tokens = j.value("out", 0LL);
        r.cache_read_tokens = j.value("cr", 0LL);
        r.cache_write_tokens = j.value("cw", 0LL);
        r.reasoning_tokens = j.value("rs", 0LL);
        r.cost = j.value("cost", 0LL);
        r.latency_ms = j.value("ms", 0LL);
        r.ttft_ms = j.value("ttft", 0LL);
        r.status = j.value("status", 0);
        r.error_kind = j.value("err", "");
        r.client_ip = j.value("ip", "");
        r.retries = j.value("retries", 0);
        r.stream = j.value("stream", false);
        r.route_scenario = j.value("route_scenario", "");
        r.route_model = j.value("route_model", "");
        r.route_reason = j.value("route_reason", "");
        r.route_by = j.value("route_by", "");
        r.route_rank = j.value("route_rank", 0);
        r.decisions = j.value("decisions", "");
        if (j.contains("channel_key")) r.channel_key_id = j["channel_key"].get<long long>();
        r.proxy = j.value("proxy", "");
        return r;
    } catch (const Json::exception& e) {
        return core::Error::invalid(
            std::string("usage journal line has a field of the wrong type: ") + e.what());
    }
}

UsageJournal::UsageJournal(store::Database& db, fs::path root, std::chrono::milliseconds interval,
                           std::chrono::hours retention, size_t segment_bytes,
                           std::chrono::seconds adopt_interval)
    : db_(db),
      root_(std::move(root)),
      adopt_interval_(std::max(adopt_interval, std::chrono::seconds(1))),
      interval_(interval),
      retention_(retention),
      segment_bytes_(segment_bytes) {}

bool UsageJournal::Segment::append(std::string_view line) {
    const size_t at = reserved.fetch_add(line.size(), std::memory_order_relaxed);
    if (at + line.size() > capacity) return false;
    // The newline last: a line that has its newline was copied whole, even when the process
    // dies at the next instruction (replay drops what has none).
    std::memcpy(map + at, line.data(), line.size() - 1);
    std::atomic_ref<char>(map[at + line.size() - 1]).store('\n', std::memory_order_release);
    return true;
}

void UsageJournal::Segment::prefault(size_t bytes) {
    const size_t end = std::min(bytes, capacity);
    // Before the segment is published no copier writes here; the bytes are zeros already.
    for (size_t at = 0; at < end; at += 4096)
        std::atomic_ref<char>(map[at]).store('\0', std::memory_order_relaxed);
}

void UsageJournal::Segment::unmap() {
    if (!map) return;
    // Every copier has finished (each held this segment): where its lines end.
    lines_end = std::min(reserved.load(), capacity);
    while (lines_end > 0 && map[lines_end - 1] == '\0') --lines_end;
    ::munmap(map, capacity);
    map = nullptr;
    cut = true;
}

UsageJournal::Segment::~Segment() {
    unmap();
    // Cut the reserved blocks the lines did not use, so a closed journal file is its lines and
    // nothing else.
    if (cut && ::ftruncate(fd, static_cast<off_t>(lines_end)) != 0) {
        // The zeros stay; replay skips them.
    }
    if (fd >= 0) ::close(fd);
}

void UsageJournal::prune_old_rows() {
    if (retention_.count() <= 0 || std::chrono::steady_clock::now() < next_prune_) return;
    next_prune_ = std::chrono::steady_clock::now() + std::chrono::hours(1);
    const auto cutoff = std::chrono::system_clock::now() - retention_;
    const long long cutoff_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(cutoff.time_since_epoch()).count();
    auto pruned = [&] {
        // A background delete: never ahead of a request.
        core::IdlePriorityScope low(idle_background_.load(std::memory_order_relaxed), kCatchUp);
        return store::request_logs::prune(db_, cutoff_ms);
    }();
    if (!pruned) {
        core::log(core::LogLevel::warn, "request log retention: prune failed; retrying in an hour",
                  {{"error", pruned.error().message}});
        return;
    }
    if (pruned.value() > 0)
        core::log(core::LogLevel::info, "request log retention: old rows pruned",
                  {{"rows", pruned.value()},
                   {"retention_hours", static_cast<int64_t>(retention_.count())}});
    std::lock_guard lock(mutex_);
    counters_.pruned += pruned.value();
}

core::Result<std::unique_ptr<UsageJournal>> UsageJournal::open(
    store::Database& db, fs::path root, std::chrono::milliseconds interval,
    std::chrono::hours retention, size_t segment_bytes, std::chrono::seconds adopt_interval) {
    std::error_code ec;
    fs::create_directories(root, ec);
    if (ec)
        return core::Error{core::ErrorKind::unavailable,
                           "cannot create the usage journal directory '" + root.string() +
                               "': " + ec.message() + " (check the --data directory's permissions)",
                           {}};
    std::unique_ptr<UsageJournal> journal(new UsageJournal(db, std::move(root), interval, retention,
                                                           std::max<size_t>(segment_bytes, 4096),
                                                           adopt_interval));
    if (auto r = journal->claim_directory(); !r) return r.take_error();
    if (auto r = journal->adopt_orphans(); !r) {
        journal->release_directory();
        return r.take_error();
    }
    journal->next_adopt_ = std::chrono::steady_clock::now() + journal->adopt_interval_;
    auto segment = journal->open_segment(journal->next_segment_++);
    if (!segment) {
        journal->release_directory();
        return segment.take_error();
    }
    journal->segment_file_ = std::move(segment).value();
    journal->thread_ = std::thread([j = journal.get()] { j->run(); });
    return journal;
}

core::Result<void> UsageJournal::claim_directory() {
    const std::string name = process_directory_name();
    // Dot names are skipped by adopters: until the rename, nobody else looks inside.
    const fs::path staging = root_ / ("." + name);
    const fs::path final_dir = root_ / name;
    const auto failed = [&](const std::string& what, int error) {
        return core::Error{core::ErrorKind::unavailable,
                           "cannot " + what + " in the usage journal directory '" + root_.string() +
                               "': " + std::strerror(error) +
                               " (check the --data directory's permissions and free space)",
                           {}};
    };
    if (::mkdir(staging.c_str(), 0700) != 0) return failed("create " + staging.string(), errno);
    const fs::path lock = staging / kLockFile;
    const int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        const int error = errno;
        ::rmdir(staging.c_str());
        return failed("create " + lock.string(), error);
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0 || ::rename(staging.c_str(), final_dir.c_str()) != 0) {
        const int error = errno;
        ::close(fd);
        ::unlink(lock.c_str());
        ::rmdir(staging.c_str());
        return failed("claim " + final_dir.string(), error);
    }
    lock_fd_ = fd;
    dir_ = final_dir;
    return {};
}

void UsageJournal::release_directory() {
    if (lock_fd_ < 0) return;
    // Only an empty journal goes: files left (a database that failed at close) keep the
    // directory, which the next gateway to look adopts once this lock is released.
    std::error_code ec;
    bool empty = true;
    for (const auto& entry : fs::directory_iterator(dir_, ec))
        if (entry.path().filename() != kLockFile) empty = false;
    if (empty && !ec) {
        ::unlink((dir_ / kLockFile).c_str());
        ::rmdir(dir_.c_str());
    }
    ::close(lock_fd_);
    lock_fd_ = -1;
}

core::Result<void> UsageJournal::adopt_orphans() {
    std::vector<fs::path> orphans;
    bool flat_files = false;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(root_, ec)) {
        const fs::path& path = entry.path();
        const std::string name = path.filename().string();
        if (segment_number(path) >= 0)
            flat_files = true;
        else if (entry.is_directory(ec) && !name.empty() && name[0] != '.' && path != dir_)
            orphans.push_back(path);
    }
    if (ec)
        return core::Error{core::ErrorKind::unavailable,
                           "cannot list the usage journal directory '" + root_.string() +
                               "': " + ec.message() + " (check the --data directory's permissions)",
                           {}};
    if (flat_files) {
        // The layout before per-process directories: one gateway wrote these files straight in
        // the journal folder. Whoever takes this lock first replays them.
        const fs::path lock = root_ / ".flat.lock";
        const int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) == 0) {
            auto replayed = replay_files(root_);
            ::close(fd);
            if (!replayed) return replayed;
        } else if (fd >= 0) {
            ::close(fd);
        }
    }
    for (const auto& dir : orphans) {
        const int fd = ::open((dir / kLockFile).c_str(), O_RDWR | O_CLOEXEC);
        if (fd < 0) continue;  // being removed by its owner or another adopter
        if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
            ::close(fd);  // its owner is alive, or another gateway is adopting it now
            continue;
        }
        auto replayed = replay_files(dir);
        if (replayed) {
            core::log(core::LogLevel::info, "usage journal of a stopped gateway adopted",
                      {{"directory", dir.string()}});
            ::unlink((dir / kLockFile).c_str());
            fs::remove_all(dir, ec);  // nothing but what replay left: files it could not read
        }
        ::close(fd);
        if (!replayed) return replayed;
    }
    return {};
}

core::Result<void> UsageJournal::replay_files(const fs::path& dir) {
    std::vector<std::pair<int64_t, fs::path>> segments;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        const int64_t n = segment_number(entry.path());
        if (n >= 0) segments.emplace_back(n, entry.path());
    }
    std::sort(segments.begin(), segments.end());
    for (const auto& [n, path] : segments) {
        std::ifstream in(path, std::ios::binary);
        const std::string content((std::istreambuf_iterator<char>(in)), {});
        std::vector<store::UsageRecord> records;
        int64_t skipped = 0;
        // What follows the last newline is a copy the kill cut short (or the zeros of blocks
        // reserved and never used): never answered.
        for (size_t start = 0, nl; (nl = content.find('\n', start)) != std::string::npos;
             start = nl + 1) {
            std::string_view line(content.data() + start, nl - start);
            // Lines never hold a NUL (the encoder escapes it). One here is space a killed
            // gateway's copier had reserved and not filled: what precedes it had no newline of
            // its own (cut short); the line proper starts after the last one.
            if (const size_t z = line.find_last_of('\0'); z != std::string_view::npos)
                line.remove_prefix(z + 1);
            if (line.empty()) continue;
            auto r = decode(line);
            if (r)
                records.push_back(std::move(r).value());
            else
                ++skipped;
        }
        if (auto w = write_batches(db_, records); !w)
            return core::Error{
                core::ErrorKind::unavailable,
                "cannot write the usage journal '" + path.string() +
                    "' left by a stopped gateway to the database: " + w.error().message +
                    " (fix the database; the file is kept and replayed later)",
                {}};
        {
            std::lock_guard lock(mutex_);
            counters_.replayed += static_cast<int64_t>(records.size());
        }
        core::log(core::LogLevel::info, "usage journal replayed",
                  {{"file", path.string()},
                   {"records", static_cast<int64_t>(records.size())},
                   {"unreadable_lines", skipped}});
        fs::remove(path, ec);
    }
    return {};
}

core::Result<std::shared_ptr<UsageJournal::Segment>> UsageJournal::open_segment(int64_t n) const {
    const fs::path path = segment_path(dir_, n);
    const auto failed = [&](const std::string& what, int error, const char* hint) {
        return core::Error{core::ErrorKind::unavailable,
                           "cannot " + what + " the usage journal '" + path.string() +
                               "': " + std::strerror(error) + " (" + hint + ")",
                           {}};
    };
    // O_EXCL: numbers only grow past the files found at start, so an existing file means a
    // second gateway writes to this journal; two copiers into one file would overwrite lines.
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return failed("create", errno,
                      errno == EEXIST
                          ? "this gateway's own journal directory; what else writes there?"
                          : "check the disk and permissions");
    auto segment = std::make_shared<Segment>();
    segment->number = n;
    segment->fd = fd;
    // The blocks now: without them a full disk would surface as SIGBUS inside a copy.
    if (const int rc = ::posix_fallocate(fd, 0, static_cast<off_t>(segment_bytes_)); rc != 0) {
        ::unlink(path.c_str());
        return failed("reserve " + std::to_string(segment_bytes_ >> 10) + " KiB for", rc,
                      "is the disk full?");
    }
    void* map = ::mmap(nullptr, segment_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        const int error = errno;
        ::unlink(path.c_str());
        return failed("map", error, "check the memory limits");
    }
    segment->map = static_cast<char*>(map);
    segment->capacity = segment_bytes_;
    return segment;
}

core::Result<std::shared_ptr<UsageJournal::Segment>> UsageJournal::replace_full(
    const std::shared_ptr<Segment>& full) {
    int64_t n = 0;
    {
        std::lock_guard lock(mutex_);
        if (segment_file_ != full) return segment_file_;
        n = next_segment_++;
    }
    auto opened = open_segment(n);  // outside the lock, as a rotation does
    if (!opened) return opened.take_error();
    std::lock_guard lock(mutex_);
    // Its lines belong to batches not yet written: the segment is removed with the segments
    // before the next rotation's, once that batch is in the database.
    if (segment_file_ == full)
        retired_.push_back(std::exchange(segment_file_, std::move(opened).value()));
    return segment_file_;
}

bool UsageJournal::record(const store::UsageRecord& record) {
    const std::string line = encode(record);
    store::UsageRecord queued = record;  // copied before taking the lock
    std::shared_ptr<Segment> segment;
    {
        std::lock_guard lock(mutex_);
        segment = segment_file_;
        queue_.push_back(std::move(queued));
        ++counters_.recorded;
    }
    // Outside the lock: each copier reserves its own bytes. If a rotation happened since, this
    // line goes to the old segment, whose batch holds this record; the old segment is removed
    // only after that batch is in the database. When it is full (a burst filled it before the
    // next rotation), each turn finds a newer segment, this thread's or another's, until one
    // has room.
    std::string problem;
    for (std::shared_ptr<Segment> target = std::move(segment);;) {
        if (target->append(line)) return true;
        if (line.size() > target->capacity) {
            problem = "the line (" + std::to_string(line.size()) +
                      " bytes) is longer than a journal file";
            break;
        }
        auto next = replace_full(target);
        if (!next) {
            problem = next.error().message;
            break;
        }
        target = std::move(next).value();
    }
    core::log(core::LogLevel::error, "usage journal write failed; the record is only queued",
              {{"request_id", record.request_id}, {"error", problem}});
    return false;
}

void UsageJournal::close_here(std::vector<std::shared_ptr<Segment>> segments, bool lower) {
    // A record() took its segment under the lock and holds it only while it copies a line.
    for (auto& segment : segments) {
        while (segment.use_count() > 1) std::this_thread::yield();
        // Unmapping takes the process's memory map lock, which a carrier's page fault may need:
        // at normal priority. Cutting and closing the files is the file system's work on files
        // no request touches any more, milliseconds at times: at idle priority.
        segment->unmap();
    }
    core::IdlePriorityScope low(lower, kCatchUp);
    segments.clear();
}

core::Result<void> UsageJournal::flush() {
    // Lock order: flush_mutex_ before mutex_ (a batch holds flush_mutex_ while it writes to the
    // database with mutex_ released, so record() never waits on the database).
    std::lock_guard one_batch(flush_mutex_);
    return flush_batch(false);  // somebody waits for it: at their own priority
}

core::Result<void> UsageJournal::flush_batch(bool background) {
    int64_t n = 0;
    size_t filled = 0;  // what the open segment took since the last rotation
    {
        std::lock_guard lock(mutex_);
        if (queue_.empty()) return {};
        n = next_segment_++;
        if (segment_file_)
            filled = std::min(segment_file_->reserved.load(), segment_file_->capacity);
    }
    // Rotate: new records go to a fresh segment while this batch is written; the old segment is
    // removed only once the database has every record in it. The file is opened before taking
    // the lock, so record() never waits on open(2).
    const auto opening = std::chrono::steady_clock::now();
    const bool lower = background && idle_background_.load(std::memory_order_relaxed);
    auto opened = [&] {
        // Creating and reserving a file is the file system's work: at idle priority. So is the
        // first write to each page of the mapping (a page fault that allocates the page and
        // journals the block): done here for twice what the last interval took, so that the
        // requests copying their lines in find the pages there.
        core::IdlePriorityScope low(lower, kCatchUp);
        auto segment = open_segment(n);
        if (segment) segment.value()->prefault(std::max<size_t>(2 * filled, 64 << 10));
        return segment;
    }();
    std::vector<store::UsageRecord> batch;
    std::vector<std::shared_ptr<Segment>> old_segments;
    int64_t rotated_to = -1;  // segments numbered below hold this batch's records or older
    {
        std::lock_guard lock(mutex_);
        batch.swap(queue_);
        queue_.reserve(batch.size());
        old_segments.swap(retired_);
        if (opened) {
            old_segments.push_back(std::exchange(segment_file_, std::move(opened).value()));
            rotated_to = n;
        }  // else: keep appending to the old one
    }
    const auto closing = std::chrono::steady_clock::now();
    close_here(std::move(old_segments), lower);
    // The database transactions — milliseconds of CPU every interval — run at idle priority
    // while the journal keeps up, so that they never hold a CPU a carrier wakes up for
    // (core/thread_priority.hpp). They take no lock a request waits for (not mutex_, which
    // record() takes; the request path never writes to the database).
    core::IdlePriorityScope low(lower && !fallen_behind(batch), kCatchUp);
    const auto began = std::chrono::steady_clock::now();
    auto written = write_batches(db_, batch);
    const bool stayed_low = low.lowered();
    low.restore();
    if (!written) {
        {
            std::lock_guard lock(mutex_);
            ++counters_.failures;
            // Back in front of the queue; the old segment stays on disk until a later batch
            // (which includes these records) succeeds, or the next start replays it.
            queue_.insert(queue_.begin(), std::make_move_iterator(batch.begin()),
                          std::make_move_iterator(batch.end()));
        }
        core::log(
            core::LogLevel::warn, "usage batch not written; retrying",
            {{"records", static_cast<int64_t>(batch.size())}, {"error", written.error().message}});
        return written.take_error();
    }
    {
        std::lock_guard lock(mutex_);
        counters_.flushed += static_cast<int64_t>(batch.size());
    }
    const auto removing_from = std::chrono::steady_clock::now();
    if (rotated_to >= 0) {
        // Every segment before the one this batch rotated to is now in the database. Removing a
        // file frees its blocks: background work, at idle priority.
        core::IdlePriorityScope removing(lower, kCatchUp);
        std::error_code ec;
        for (const auto& entry : fs::directory_iterator(dir_, ec)) {
            const int64_t number = segment_number(entry.path());
            if (number >= 0 && number < rotated_to) fs::remove(entry.path(), ec);
        }
    }
    // Where the batch's steps fell in time (steady clock, µs), so a benchmark can tell whether
    // slow requests coincide with one of them (tests/bench/overhead/tail_sources.sh).
    const auto us = [](std::chrono::steady_clock::time_point t) {
        return static_cast<int64_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count());
    };
    core::log(core::LogLevel::debug, "usage batch written",
              {{"records", static_cast<int64_t>(batch.size())},
               {"open_from_us", us(opening)},
               {"close_from_us", us(closing)},
               {"write_from_us", us(began)},
               {"remove_from_us", us(removing_from)},
               {"done_us", us(std::chrono::steady_clock::now())},
               {"idle_priority", stayed_low}});
    return {};
}

void UsageJournal::run() {
    for (;;) {
        {
            std::unique_lock lock(mutex_);
            wake_.wait_for(lock, interval_, [&] { return stopping_; });
            if (stopping_) return;
        }
        {
            std::lock_guard one_batch(flush_mutex_);
            (void)flush_batch(true);
        }
        prune_old_rows();
        if (std::chrono::steady_clock::now() >= next_adopt_) {
            next_adopt_ = std::chrono::steady_clock::now() + adopt_interval_;
            if (auto adopted = adopt_orphans(); !adopted)
                core::log(core::LogLevel::warn,
                          "usage journal of a stopped gateway not written yet; retrying",
                          {{"error", adopted.error().message}});
        }
    }
}

UsageJournal::~UsageJournal() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
    std::lock_guard one_batch(flush_mutex_);
    if (auto r = flush_batch(false); !r) {
        std::lock_guard lock(mutex_);
        core::log(core::LogLevel::error, "usage records left in the journal for the next start",
                  {{"records", static_cast<int64_t>(queue_.size())}, {"error", r.error().message}});
    }
    // The last batch rotated to an empty segment: close it (its file is cut to nothing) and
    // remove it, then the directory goes if nothing else is left in it.
    std::shared_ptr<Segment> last;
    {
        std::lock_guard lock(mutex_);
        if (queue_.empty()) last = std::exchange(segment_file_, nullptr);
    }
    if (last) {
        const fs::path path = segment_path(dir_, last->number);
        std::vector<std::shared_ptr<Segment>> closing;  // not {last}: a list holds a copy
        closing.push_back(std::move(last));
        close_here(std::move(closing), false);  // shutting down: no request waits
        std::error_code ec;
        if (fs::file_size(path, ec) == 0 && !ec) fs::remove(path, ec);
    }
    release_directory();
}

JournalCounters UsageJournal::counters() const {
    std::lock_guard lock(mutex_);
    JournalCounters c = counters_;
    c.queued = static_cast<int64_t>(queue_.size());
    return c;
}

}  // namespace tianshu::hub
