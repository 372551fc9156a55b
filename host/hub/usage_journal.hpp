#pragma once
// Usage records on their way to the database: appended to a journal file before the client
// gets the end of its answer, then written to the request log and the ledger in batches by one
// background thread. A gateway killed at any moment loses nothing it answered: the next start
// replays the journal, and store::request_logs::record_usage is idempotent by request id, so
// nothing is charged twice either.
//
// Durability: a record is copied into a shared mapping of the journal file, whose pages are the
// kernel's page cache: it survives the process being killed (kill -9, a crash) the moment the
// copy is done, with no system call per request; it reaches the disk with the kernel's own
// writeback, not on every request (power loss can lose the last seconds). A file's blocks are
// reserved when it is opened, so a full disk fails the open, never a copy.
//
// Gateways sharing one data folder share the journal folder (data/usage-journal): each process
// writes only in its own subdirectory, which it claims at open by holding an exclusive flock on
// the subdirectory's lock file for its whole life. A subdirectory whose lock is free belongs to
// a process that died (kill -9 included: the kernel releases the lock): any gateway, at open and
// then every `adopt_interval`, replays it into the database and removes it, so a killed
// gateway's records reach the database even if it never starts again.

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/error.hpp"
#include "core/thread_priority.hpp"
#include "store/database.hpp"
#include "store/request_logs.hpp"

namespace tianshu::hub {

//! What the journal has done since it opened, for /metrics and the shutdown log line.
struct JournalCounters {
    int64_t recorded = 0;  //!< records appended
    int64_t flushed = 0;   //!< records written to the database
    int64_t replayed = 0;  //!< records dead processes left (found at open or adopted later)
    int64_t failures = 0;  //!< database batches that failed (retried)
    int64_t pruned = 0;    //!< request log rows removed for being older than the retention
    int64_t queued = 0;    //!< records waiting for the next database batch, now
};

//! One journal directory per gateway process, inside a journal folder gateways may share
//! (data/usage-journal by default).
class UsageJournal {
  public:
    //! Claims a new subdirectory of `root` (created when missing), writes every record that
    //! dead processes left in `root` to the database (their subdirectories, and the files of the
    //! older single-directory layout in `root` itself), then starts the flushing thread. Fails
    //! when the folder cannot be used or the leftovers cannot be written (the gateway must not
    //! start and lose them).
    //! `retention` > 0: request log rows older than that are pruned, once an hour (and at
    //! start), by the same thread; 0 keeps them forever.
    //! `segment_bytes`: the size of one journal file; a burst that fills one before the next
    //! batch continues in a new one.
    //! `adopt_interval`: how often the flushing thread looks for dead siblings to replay.
    static core::Result<std::unique_ptr<UsageJournal>> open(
        store::Database& db, std::filesystem::path root,
        std::chrono::milliseconds flush_interval = std::chrono::milliseconds(200),
        std::chrono::hours retention = std::chrono::hours(0), size_t segment_bytes = kSegmentBytes,
        std::chrono::seconds adopt_interval = std::chrono::seconds(60));
    static constexpr size_t kSegmentBytes = 4 << 20;
    ~UsageJournal();  // flushes what is pending, then stops
    UsageJournal(const UsageJournal&) = delete;
    UsageJournal& operator=(const UsageJournal&) = delete;

    //! Appends `record` to the journal file and queues it for the database. Thread-safe; the
    //! line is copied in before returning but outside any lock (threads recording at once
    //! never wait for each other's copy). Returns false (and logs) when no journal file could
    //! take the line: the record is still queued for the database.
    bool record(const store::UsageRecord& record);
    //! Writes everything queued to the database now (tests, shutdown).
    core::Result<void> flush();
    JournalCounters counters() const;
    //! Where the journal's background work (database batches, closing and removing files,
    //! pruning) runs: idle priority (the default; core/thread_priority.hpp) or normal, as before
    //! (`serve --journal-priority normal`, for comparison or where SCHED_IDLE is not wanted).
    void set_background_priority(core::ThreadPriority priority) {
        idle_background_.store(priority == core::ThreadPriority::idle, std::memory_order_relaxed);
    }
    //! This process's own subdirectory (tests look at its files).
    const std::filesystem::path& directory() const { return dir_; }

    //! The journal line for a record, and back (exposed for tests).
    static std::string encode(const store::UsageRecord& record);
    static core::Result<store::UsageRecord> decode(std::string_view line);

  private:
    //! One open journal file, mapped. Shared by the journal and every record() copying into it
    //! at the moment, so that a rotation never unmaps it under a copy: the last owner unmaps
    //! it, cuts the file to the lines written and closes it.
    struct Segment {
        int64_t number = 0;
        int fd = -1;
        char* map = nullptr;
        size_t capacity = 0;
        std::atomic<size_t> reserved{0};  //!< bytes handed out; past capacity once full
        size_t lines_end = 0;             //!< where the lines end, once unmapped
        bool cut = false;                 //!< unmapped: the file is cut at lines_end on closing
        //! Copies `line` (ending in a newline) in; false when it does not fit.
        bool append(std::string_view line);
        //! Writes to the first `bytes`' pages (before the segment is published), so that the
        //! copies into them take no page fault.
        void prefault(size_t bytes);
        //! Unmaps the file once no copier holds it (the file stays open until destruction).
        void unmap();
        ~Segment();
    };

    UsageJournal(store::Database& db, std::filesystem::path root,
                 std::chrono::milliseconds flush_interval, std::chrono::hours retention,
                 size_t segment_bytes, std::chrono::seconds adopt_interval);
    void prune_old_rows();
    //! Makes dir_ this process's: a private name, its lock file locked, then renamed into place
    //! (so no other process ever sees it unlocked).
    core::Result<void> claim_directory();
    //! Replays into the database every subdirectory of root_ whose lock is free, and the files
    //! of the older flat layout; removes what it wrote. Stops at the first database failure
    //! (the files stay for the next try).
    core::Result<void> adopt_orphans();
    //! Writes the segment files of `dir` to the database in order, removing each once written.
    core::Result<void> replay_files(const std::filesystem::path& dir);
    //! At close, once everything is written: removes dir_ and releases the lock.
    void release_directory();
    //! The segment file number `n`, created, its blocks reserved and mapped.
    core::Result<std::shared_ptr<Segment>> open_segment(int64_t n) const;
    //! The segment to use once `full` has no room: a new one, or the one another thread (or a
    //! rotation) put in its place meanwhile.
    core::Result<std::shared_ptr<Segment>> replace_full(const std::shared_ptr<Segment>& full);
    void run();
    //! Writes one batch: what is queued now. Needs flush_mutex_ held (and mutex_ not held).
    //! `background`: on the journal's own thread, whose slow steps then run at idle priority
    //! (when set so); a caller waiting for the flush keeps its own.
    core::Result<void> flush_batch(bool background);
    //! Closes `segments` here once the record() calls still copying into them are done; cutting
    //! the files at idle priority when `lower`.
    static void close_here(std::vector<std::shared_ptr<Segment>> segments, bool lower);

    store::Database& db_;
    const std::filesystem::path root_;
    std::filesystem::path dir_;  // set once by claim_directory, before the thread starts
    int lock_fd_ = -1;           // dir_/lock, flock'ed exclusively for the journal's life
    const std::chrono::seconds adopt_interval_;
    std::chrono::steady_clock::time_point next_adopt_{};
    const std::chrono::milliseconds interval_;
    const std::chrono::hours retention_;
    const size_t segment_bytes_;
    std::chrono::steady_clock::time_point next_prune_{};
    // A record is queued and its segment taken under mutex_ at once, and a rotation swaps the
    // queue and the segment at once: a record's line is in the segment whose batch holds it (or,
    // when that one was full, in a later one), and a segment is removed only once every batch
    // before the rotation that followed it is in the database.
    mutable std::mutex mutex_;  // segment_file_, next_segment_, the queue, counters_, stopping_
    std::mutex flush_mutex_;    // one database batch at a time
    std::condition_variable wake_;
    bool stopping_ = false;
    std::shared_ptr<Segment> segment_file_;  // the open segment
    int64_t next_segment_ = 0;               // the number the next new segment takes
    //! Segments a burst filled, for the journal's thread to close: closing one cuts its file
    //! (a millisecond), which a request thread must not pay.
    std::vector<std::shared_ptr<Segment>> retired_;
    std::vector<store::UsageRecord> queue_;
    JournalCounters counters_;
    std::atomic<bool> idle_background_{true};
    std::thread thread_;
};

}  // namespace tianshu::hub
