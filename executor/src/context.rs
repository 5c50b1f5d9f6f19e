//! [`Context`]: one per core, owned by that core — QEMU's `AioContext`.
//!
//! # The handshake (QEMU's of 2015; checked by `executor/model/notify.pml` and `executor/tests/loom.rs`)
//!
//! [`EventNotifier`]: crate::EventNotifier
//!
//! | word        | written by                 | meaning                                      |
//! |-------------|----------------------------|----------------------------------------------|
//! | `notify_me` | the owner only             | non-zero while the owner may block           |
//! | `notified`  | notifiers set, owner clears| someone set the EventNotifier since the last accept |
//!
//! Owner, one blocking [`Context::poll`]:
//! 1. raise `notify_me`;
//! 2. **full fence** (pairs with (b));
//! 3. re-check for work (run queue, bottom halves, expired timers); if none, `wait` on the
//!    EventNotifier until the nearest timer deadline (a latch already set is consumed there
//!    and the wait returns at once: "The notifier's window" below);
//! 4. lower `notify_me` (Release: the waiting is finished before notifiers may skip kicks);
//! 5. accept: if `notified` was true (one RMW sets it false), `test_and_clear` the EventNotifier;
//! 6. run bottom halves, timers, ready tasks.
//!
//! Notifier, [`Context::notify`] (after publishing work with a Release push):
//! a. (publish the work;)
//! b. **full fence** (pairs with (2));
//! c. if `notify_me != 0`: `set` the EventNotifier, **then** set `notified` (Release; pairs
//!    with the accept's read-modify-write in (5)).
//!
//! (2) and (b) are the store-buffering pattern: both are explicit `fence(SeqCst)` (DMB ISH).
//! A SeqCst RMW followed by a Relaxed load is *not* a full fence on aarch64.
//!
//! Invariant on `notified`: when it is false, the EventNotifier is clear, or a notifier is
//! between its `set` and its store of `notified`, or the owner is in its accept (5). False
//! positives (`notified` true, the event clear) are harmless.
//!
//! # The notifier's window (a `wait` consumes a latch it finds set)
//! Between a notifier's `set` (c) and its store of `notified`, the event is set and `notified`
//! false. An owner that wakes in that window (or finds the latch at once) accepts nothing
//! (the compare_exchange fails: nothing to clear), runs its work and polls again. With the
//! seed's `wait` (return while the latch is set, never clear it) every later `wait` returned
//! at once until the store landed: under nested KVM a vCPU descheduled between the two
//! stores left its owner spinning for millions of iterations. So the EventNotifier's `wait`
//! **consumes a latch it finds set on entry** (trait [`EventNotifier`]) and returns at once:
//! each `set` costs at most one early return, whatever the notifier's vCPU does.
//!
//! Why that loses no wakeup: the owner reaches `wait` only after (1)-(3) found no work, and
//! after `wait` returns it lowers `notify_me`, accepts and runs its lists, and before it can
//! sleep again it re-checks after fence (2). The consumed set's work was published before the
//! set (Acquire on the consume pairs with the set's Release): the owner sees it. A later
//! notify either sees `notify_me` raised and sets the event again, or sees it lowered, and
//! then the owner's next re-check sees its work (the (2)/(b) pair). It is the same argument
//! that lets the accept clear the event; only the place moved to where the owner sees it.
//!
//! Against the seed's bugs: the order (c) is unchanged (event, then `notified`), and so is
//! the invariant above. BUG2 (skip the set while `notified` is true) still loses a wakeup:
//! the window now more often leaves a stale `notified` true while the owner sleeps, which is
//! exactly the state BUG2 misreads. BUG1 (`notified` before the event), an accept split in
//! two (`accept_load_store`) or no accept at all (`no_accept`) still break the invariant (the
//! event left set with `notified` false and no notify in flight, what the spin model's
//! assertions and the loom end-state check see), but the consuming `wait` turns the busy
//! loop they used to cause into one wasted early return per occurrence.
//! `executor/model/notify.pml` checks all of this: "no two early returns on one set", the
//! invariant, the end state, and the seed's liveness properties.
//!
//! # Which QEMU handshake, and why this one
//! This is the handshake of QEMU's 2015 commit "aio: introduce aio_notify_accept", the one
//! the Promela model (`executor/model/notify.pml`) and the table above describe: `notified` is
//! set only by a notify that kicked, after the event, and the owner's accept clears the
//! event. QEMU since 2020 (5.2: "async: always set ctx->notified in aio_notify()") sets
//! `notified` on *every* notify, before reading `notify_me`, and clears the event in the
//! event notifier's own fd handler, so its adaptive polling can keep `notify_me` at 0 and
//! watch `notified` alone. aiolos keeps the 2015 order because:
//! - its busy-poll looks at the work lists themselves (`has_work`), so it needs no `notified`
//!   while `notify_me` is 0; a skipped notify stays one fence and one load, with no store to
//!   the owner's cache line from every notifying core (the 2020 order adds that store);
//! - its event has no handler to clear it in: the wake SGI's interrupt handler is empty, and
//!   clearing belongs on the owner's side, where `notified` lets it skip the GIC clear that
//!   traps under KVM;
//! - it is the order the spin model and the loom models check (BUG1 and BUG2 are stated
//!   against it).
//!
//! # Ownership
//! Only the owner core calls [`Context::poll`] (a re-entrant or concurrent `poll` panics).
//! Everything else (`notify`, scheduling bottom halves, waking tasks, spawning) is lock-free
//! and may be called from any core or interrupt handler.

use core::sync::atomic::{AtomicBool as CoreAtomicBool, Ordering as CoreOrdering};

use crate::bh::Bh;
use crate::notifier::{Clock, EventNotifier};
use crate::poll_policy::{PollParams, PollPolicy};
use crate::raw::once::OnceCell;
use crate::raw::stack::Stack;
use crate::stats::{Stats, StatsSnapshot};
use crate::sync::{fence, loom_const_fn, AtomicBool, AtomicUsize, Ordering};
use crate::task::header::TaskHeader;
use crate::timer::TimerTable;

/// The platform half of a context, attached once by the owner before first use.
#[derive(Clone, Copy)]
struct Platform {
    notifier: &'static dyn EventNotifier,
    clock: &'static dyn Clock,
}

/// Error from [`Context::attach`]: the context already has a notifier and clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlreadyAttached;

impl core::fmt::Display for AlreadyAttached {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("context already attached to a notifier and clock")
    }
}

/// The handshake words of a context, read for diagnostics ([`Context::handshake_state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandshakeState {
    /// Non-zero while the owner may block (steps (1)-(4)).
    pub notify_me: usize,
    /// Some notify set the event since the owner's last accept.
    pub notified: bool,
    /// The run queue is not empty.
    pub tasks_queued: bool,
    /// Bottom halves are queued (not counting idle ones).
    pub bhs_queued: bool,
    /// The nearest timer deadline, if any.
    pub next_timer: Option<u64>,
}

/// A per-core event loop. Place them in a `static` array, one per core.
pub struct Context {
    id: usize,
    platform: OnceCell<Platform>,
    /// Written only by the owner (module docs).
    notify_me: AtomicUsize,
    notified: AtomicBool,
    pub(crate) run_queue: Stack<TaskHeader>,
    pub(crate) bh_list: Stack<Bh>,
    pub(crate) idle_bh_list: Stack<Bh>,
    pub(crate) timers: TimerTable,
    poll_policy: PollPolicy,
    pub(crate) stats: Stats,
    /// Guards against re-entrant or concurrent `poll` (owner-only bookkeeping).
    polling: CoreAtomicBool,
}

impl core::fmt::Debug for Context {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Context")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Context {
    loom_const_fn! {
        /// A detached context; call [`Context::attach`] before the first `poll`.
        pub fn new(id: usize) -> Context {
            Context {
                id,
                platform: OnceCell::new(),
                notify_me: AtomicUsize::new(0),
                notified: AtomicBool::new(false),
                run_queue: Stack::new(),
                bh_list: Stack::new(),
                idle_bh_list: Stack::new(),
                timers: TimerTable::new(),
                poll_policy: PollPolicy::new(),
                stats: Stats::new(),
                polling: CoreAtomicBool::new(false),
            }
        }
    }

    /// `N` detached contexts with ids `0..N`, for `static CONTEXTS: [Context; N]`.
    #[cfg(not(loom))]
    pub const fn array<const N: usize>() -> [Context; N] {
        let mut all = [const { Context::new(0) }; N];
        let mut i = 0;
        while i < N {
            all[i].id = i;
            i += 1;
        }
        all
    }

    /// Attaches the platform's EventNotifier and clock (once, before the first `poll`).
    /// Notifies that arrive before `attach` are harmless: `notify_me` is 0 until the first
    /// blocking poll, so they never need the notifier.
    pub fn attach(
        &self,
        notifier: &'static dyn EventNotifier,
        clock: &'static dyn Clock,
    ) -> Result<(), AlreadyAttached> {
        self.platform
            .set(Platform { notifier, clock })
            .map_err(|_| AlreadyAttached)
    }

    /// This context's id (the core number, by convention).
    pub fn id(&self) -> usize {
        self.id
    }

    fn platform(&self) -> Platform {
        self.platform
            .get()
            .expect("aiolos: Context used before attach()")
    }

    /// The attached clock.
    pub fn clock(&self) -> &'static dyn Clock {
        self.platform().clock
    }

    /// Current time on the attached clock, or 0 if not attached yet.
    pub fn now(&self) -> u64 {
        self.platform.get().map_or(0, |p| p.clock.now())
    }

    /// Configure adaptive polling (owner only). `PollParams::DISABLED` turns it off.
    pub fn set_poll_params(&self, params: PollParams) {
        self.poll_policy.set(params);
    }

    /// A copy of this context's statistics (wake-path counters only with feature `stats`).
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// The handshake words, for a stall report or a liveness check. Once every notify has
    /// returned and the owner has finished a `poll`, `notified == false` with the event set
    /// is the busy-loop state (nobody will clear the event), and `notified == true` with the
    /// event clear a harmless false positive that the next accept clears.
    pub fn handshake_state(&self) -> HandshakeState {
        HandshakeState {
            // Relaxed: diagnostic snapshots; they order nothing. A caller that needs them
            // current orders them itself (e.g. after joining the notifiers).
            notify_me: self.notify_me.load(Ordering::Relaxed),
            notified: self.notified.load(Ordering::Relaxed),
            tasks_queued: !self.run_queue.is_empty_relaxed(),
            bhs_queued: !self.bh_list.is_empty_relaxed(),
            next_timer: self.timers.next_deadline(),
        }
    }

    /// aio_notify: make sure the owner will look for work. Call after publishing the work.
    /// Lock-free; callable from any core and from interrupt handlers.
    ///
    /// Inlined: the common notify finds the owner awake and is a fence, a load and (feature
    /// `stats`) one counter; the kick is out of line (`kick`).
    #[inline]
    pub fn notify(&self) {
        // (b) Full fence: orders the caller's publication of work (a store) before the load
        // of notify_me below. Pairs with the owner's fence (2) in `poll`.
        #[cfg(not(aiolos_mutant = "no_notifier_fence"))]
        fence(Ordering::SeqCst);
        // Relaxed: ordered by the fence above; pairs with the owner's store in step (1).
        if self.notify_me.load(Ordering::Relaxed) != 0 {
            self.kick();
        } else {
            self.stats.notifies_skipped.bump();
        }
    }

    /// The notify that found `notify_me` raised: set the event, then `notified`.
    #[inline(never)]
    fn kick(&self) {
        // Attached before notify_me can be non-zero (the owner attaches, then polls).
        let p = self.platform();
        // Mutant: the seed's BUG1, `notified` stored before the event is set (the owner
        // can accept in between: the event stays set with `notified` false; the next `wait`
        // consumes it, one wasted early return; with the seed's `wait`, a busy loop).
        #[cfg(aiolos_mutant = "notified_before_set")]
        self.notified.store(true, Ordering::Release);
        // Mutant: the seed's BUG2, no set while `notified` is still true (it may be stale:
        // the owner may just have cleared the event; this notify's wakeup is lost).
        #[cfg(aiolos_mutant = "skip_set_if_notified")]
        if self.notified.load(Ordering::Relaxed) {
            // Counted as a kick, so that the statistics' sums still hold and only the
            // lost wakeup gives the mutant away.
            self.stats.kicks.bump();
            return;
        }
        // From here to the store of `notified` is the notifier's window: an owner that wakes
        // (or finds the latch) meanwhile accepts nothing; its next `wait` consumes the latch
        // (module docs, "The notifier's window"), so the window costs it one early return.
        p.notifier.set();
        self.stats.kicks.bump();
        // Release: the set above happens-before the owner's accept that reads true, so the
        // owner's test_and_clear sees the event. Pairs with the AcqRel compare_exchange in
        // `notify_accept`. Setting `notified` before the event is BUG1 in the model.
        #[cfg(not(aiolos_mutant = "notified_before_set"))]
        self.notified.store(true, Ordering::Release);
    }

    /// aio_notify_accept: clear the EventNotifier only if somebody set it. Owner only.
    pub fn notify_accept(&self) {
        self.accept(self.platform.get());
    }

    /// `notify_accept` with the platform already looked up (`poll` reads it once).
    #[inline(always)]
    fn accept(&self, platform: Option<Platform>) {
        self.stats.accepts.bump_owner();
        // One read-modify-write "if true, make it false" (QEMU's atomic_xchg). A
        // compare_exchange rather than a swap: same meaning, and
        // - loom 0.7.3 models `swap` wrongly (a store can land between its read and its
        //   write, tokio-rs/loom#254 and #389): with `swap` here, both end-state models in
        //   tests/loom.rs fail on this correct code (measured); compare_exchange is an RMW
        //   loom models correctly;
        // - on the common path (`notified` false) a failing CAS writes nothing, so the accept
        //   does not take the owner's cache line exclusive for nothing.
        // AcqRel: Acquire pairs with the Release store of `notified` in `notify` (the event's
        // set is visible to the test_and_clear below); Release keeps our earlier reads of the
        // work lists before the clear. Acquire on failure: orders nothing (we do nothing).
        #[cfg(not(aiolos_mutant = "accept_load_store"))]
        let was_notified = self
            .notified
            .compare_exchange(true, false, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        // Mutant: the accept split into a load and a separate store; a notify that lands in
        // between leaves the event set with `notified` false (BUG1's state: the next `wait`
        // consumes it, one wasted early return; with the seed's `wait`, a busy loop).
        #[cfg(aiolos_mutant = "accept_load_store")]
        let was_notified = self.notified.load(Ordering::Acquire);
        #[cfg(aiolos_mutant = "accept_load_store")]
        self.notified.store(false, Ordering::Release);
        if was_notified {
            self.stats.accepts_notified.bump_owner();
            if let Some(p) = platform {
                p.notifier.test_and_clear();
            }
        }
    }

    /// True if there is work the owner must not sleep through. `Relaxed` loads: callers order
    /// them (the owner's fence (2)). Reads the clock (into `now`, once) only if the run queue
    /// and the BH list are empty and a timer slot is claimed. Inlined: it runs twice per sleep
    /// (the first look and the re-check after fence (2)), on the wake path.
    #[inline(always)]
    fn has_work(&self, clock: &dyn Clock, now: &mut Option<u64>) -> bool {
        !self.run_queue.is_empty_relaxed()
            || !self.bh_list.is_empty_relaxed()
            || self
                .timers
                .next_deadline()
                .is_some_and(|d| d <= *now.get_or_insert_with(|| clock.now()))
    }

    /// Deadline to sleep until: the nearest timer, capped at 10 ms while idle BHs wait.
    fn sleep_deadline(&self, clock: &dyn Clock, now: &mut Option<u64>) -> Option<u64> {
        let mut deadline = self.timers.next_deadline();
        if !self.idle_bh_list.is_empty_relaxed() {
            let cap = *now.get_or_insert_with(|| clock.now()) + clock.ticks_per_second() / 100;
            deadline = Some(deadline.map_or(cap, |d| d.min(cap)));
        }
        deadline
    }

    /// aio_poll: wait (if `blocking`) for work, then run bottom halves, expired timers and
    /// ready tasks once. Returns whether progress was made (a BH, timer or task ran; idle
    /// bottom halves do not count). Owner only.
    pub fn poll(&'static self, blocking: bool) -> bool {
        // Acquire: pairs with the Release store at the end of the previous `poll` (an owner
        // that moved cores sees its predecessor's owner-only state).
        if self.polling.swap(true, CoreOrdering::Acquire) {
            panic!("aiolos: Context::poll called re-entrantly or from two cores");
        }
        self.stats.polls.bump();
        // Looked up once per poll (the wait and the accept both need it).
        let platform = self.platform.get();
        if blocking {
            self.wait_for_work(platform.expect("aiolos: Context used before attach()"));
        }
        // (5) accept. Mutant `no_accept`: never accept (an event set while the owner was not
        // waiting stays set, `notified` false or stale, until the next `wait` consumes it: the
        // invariant broken, one wasted early return per kick; with the seed's `wait`, a busy
        // loop).
        #[cfg(not(aiolos_mutant = "no_accept"))]
        self.accept(platform);
        // (6) run. Each list is taken once, so work queued while running (a BH rescheduling
        // itself, a task waking itself) runs on the next iteration.
        // Each list is first tested with one Relaxed load, so that an empty one costs no
        // read-modify-write (`take_all`'s swap). A push this load misses is not lost: it
        // notified after publishing, and the next poll's re-check after fence (2) sees it
        // (the store-buffering pair (2)/(b)), as it would see a push that came after the swap.
        let mut progress = false;
        if !self.bh_list.is_empty_relaxed() {
            progress |= crate::bh::run_list(self, &self.bh_list, false);
        }
        if !self.idle_bh_list.is_empty_relaxed() {
            crate::bh::run_list(self, &self.idle_bh_list, true);
        }
        progress |= self.timers.fire(self);
        if !self.run_queue.is_empty_relaxed() {
            progress |= crate::task::run_queue(self);
        }
        // Release: pairs with the Acquire swap at the start of the next `poll`.
        self.polling.store(false, CoreOrdering::Release);
        progress
    }

    /// Steps (1)-(4), with adaptive polling in front.
    ///
    /// The clock is read only where a figure needs it: the window's start and end only while
    /// adaptive polling is on, the re-check's `now` only if a timer slot is claimed (or idle
    /// BHs cap the sleep). Work that is already queued (a task that woke itself, a BH
    /// scheduled from the owner's core) returns at the first look: that is the busy-poll
    /// finding work on its first iteration, with `notify_me` still 0 (so with polling off, a
    /// self-wake's blocking poll reads no clock at all).
    fn wait_for_work(&self, p: Platform) {
        // The window's start, read only while adaptive polling is on (`adjust` is a no-op
        // otherwise).
        let start = self.poll_policy.enabled().then(|| p.clock.now());
        let mut now = None;
        if self.has_work(p.clock, &mut now) {
            if let Some(start) = start {
                self.poll_policy.adjust(p.clock.now().wrapping_sub(start));
            }
            return;
        }
        let window = self.poll_policy.window();
        if let (true, Some(start)) = (window > 0, start) {
            // Busy-poll with notify_me == 0: notifiers skip the kick meanwhile.
            loop {
                self.stats.poll_iterations.bump();
                let t = p.clock.now();
                if self.has_work(p.clock, &mut Some(t)) {
                    self.poll_policy.adjust(t - start);
                    return;
                }
                if t.wrapping_sub(start) >= window {
                    break;
                }
                core::hint::spin_loop();
            }
        }
        // (1) Relaxed: only the owner writes notify_me; the fence below orders this store
        // before the re-check. Pairs with the Relaxed load in `notify` (via the fences).
        self.notify_me.store(1, Ordering::Relaxed);
        // Mutant: QEMU's 2019 aarch64 bug, a SeqCst RMW (and no fence) taken for a full fence.
        #[cfg(aiolos_mutant = "rmw_relaxed")]
        self.notify_me.fetch_add(0, Ordering::SeqCst);
        // (2) Full fence: store notify_me -> load the work lists. Pairs with fence (b) in
        // `notify`.
        #[cfg(not(any(aiolos_mutant = "no_owner_fence", aiolos_mutant = "rmw_relaxed")))]
        fence(Ordering::SeqCst);
        // (3) re-check, then sleep until the nearest deadline. A fresh `now`: time passed
        // since the first look (and the busy-poll).
        let mut now = None;
        if !self.has_work(p.clock, &mut now) {
            let deadline = self.sleep_deadline(p.clock, &mut now);
            if deadline.is_none_or(|d| d > *now.get_or_insert_with(|| p.clock.now())) {
                self.stats.sleeps.bump();
                p.notifier.wait(deadline);
            }
        }
        // (4) Release: the wait (and the re-check) finish before a notifier can observe 0 and
        // skip the kick. Pairs with the Relaxed load in `notify` after its fence.
        self.notify_me.store(0, Ordering::Release);
        if let Some(start) = start {
            self.poll_policy.adjust(p.clock.now().wrapping_sub(start));
        }
    }

    /// Runs `poll(true)` forever.
    pub fn run(&'static self) -> ! {
        loop {
            self.poll(true);
        }
    }

    /// Runs `poll(true)` until `done()` returns true.
    pub fn run_until(&'static self, mut done: impl FnMut() -> bool) {
        while !done() {
            self.poll(true);
        }
    }

    /// Enqueue a task on this context's run queue and notify. Caller set its SCHEDULED bit.
    pub(crate) fn enqueue_task(&self, task: &'static TaskHeader) {
        self.run_queue.push(task);
        self.notify();
    }
}
