#pragma once
// Usage records on their way to the database: appended to a journal file before the client
// gets the end of its answer, then written to the request log and the ledger in batches by one
// background thread. A gateway killed at any moment loses nothing it answered: the next start
// replays the journal, and store::request_logs::record_usage is idempotent by request id, so
// nothing is charged twice either.
//
// Durability: records are written with write(2), so they survive the process being killed
// (kill -9, a crash); they reach the disk with the kernel's own writeback, not on every
// request (power loss can lose the last seconds).

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/error.hpp"
#include "store/database.hpp"
#include "store/request_logs.hpp"

namespace tianshu::hub {

//! What the journal has done since it opened, for /metrics and the shutdown log line.
struct JournalCounters {
    int64_t recorded = 0;  //!< records appended
    int64_t flushed = 0;   //!< records written to the database
    int64_t replayed = 0;  //!< records found in the journal at open and written
    int64_t failures = 0;  //!< database batches that failed (retried)
    int64_t pruned = 0;    //!< request log rows removed for being older than the retention
};

//! One journal directory per gateway process (data/usage-journal by default).
class UsageJournal {
  public:
    //! Opens `dir` (created when missing), writes every record a previous process left there
    //! to the database, then starts the flushing thread. Fails when the directory cannot be
    //! used or the leftovers cannot be written (the gateway must not start and lose them).
    //! `retention` > 0: request log rows older than that are pruned, once an hour (and at
    //! start), by the same thread; 0 keeps them forever.
    static core::Result<std::unique_ptr<UsageJournal>> open(
        store::Database& db, std::filesystem::path dir,
        std::chrono::milliseconds flush_interval = std::chrono::milliseconds(200),
        std::chrono::hours retention = std::chrono::hours(0));
    ~UsageJournal();  // flushes what is pending, then stops
    UsageJournal(const UsageJournal&) = delete;
    UsageJournal& operator=(const UsageJournal&) = delete;

    //! Appends `record` to the journal file and queues it for the database. Thread-safe; one
    //! write(2) per record, done before returning but outside any lock (threads recording at
    //! once never wait for each other's write). Returns false (and logs) when the file write
    //! failed: the record is still queued for the database.
    bool record(const store::UsageRecord& record);
    //! Writes everything queued to the database now (tests, shutdown).
    core::Result<void> flush();
    JournalCounters counters() const;

    //! The journal line for a record, and back (exposed for tests).
    static std::string encode(const store::UsageRecord& record);
    static core::Result<store::UsageRecord> decode(std::string_view line);

  private:
    //! One open journal file. Shared by the journal and every record() writing to it at the
    //! moment, so that a rotation never closes it under a write: the last owner closes it.
    struct Segment {
        int fd = -1;
        ~Segment();
    };

    UsageJournal(store::Database& db, std::filesystem::path dir,
                 std::chrono::milliseconds flush_interval, std::chrono::hours retention);
    void prune_old_rows();
    //! The segment file number `n`, opened for appending.
    core::Result<std::shared_ptr<Segment>> open_segment(int64_t n) const;
    core::Result<void> replay();
    void run();
    //! Writes one batch: what is queued now. Needs flush_mutex_ held (and mutex_ not held).
    core::Result<void> flush_batch();

    store::Database& db_;
    const std::filesystem::path dir_;
    const std::chrono::milliseconds interval_;
    const std::chrono::hours retention_;
    std::chrono::steady_clock::time_point next_prune_{};
    // A record is queued and its segment taken under mutex_ at once, and a rotation swaps the
    // queue and the segment at once: a record's line is in the segment whose batch holds it,
    // and a segment is removed only once that batch is in the database.
    mutable std::mutex mutex_;  // segment_file_, the queue, counters_, stopping_
    std::mutex flush_mutex_;    // one database batch at a time; segment_ changes under it
    std::condition_variable wake_;
    bool stopping_ = false;
    std::shared_ptr<Segment> segment_file_;  // the open segment
    int64_t segment_ = 0;                    // its number
    std::vector<store::UsageRecord> queue_;
    JournalCounters counters_;
    std::thread thread_;
};

}  // namespace tianshu::hub
