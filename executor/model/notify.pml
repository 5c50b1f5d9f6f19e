/*
 * aiolos: the notify_me / notified handshake of executor/src/context.rs, in Promela.
 *
 * One owner (the core that runs the context's poll loop) and two notifiers (other cores or
 * interrupt handlers). Spin interleaves as if memory were sequentially consistent, which is
 * what the two full fences (owner step 2, notifier step b) buy us; the weak-memory side is
 * checked by loom on the Rust code (executor/tests/loom.rs).
 *
 * The EventNotifier's wait consumes a latch it finds already set on entry (and returns at
 * once); a latch set during the wait is left for the accept. That is what bounds the
 * notifier's window (between a notifier's `event = 1` and its `notified = 1`): the seed's wait
 * (-DWAIT_KEEPS_LATCH) returned at once while the latch stayed set, so an owner could spin
 * through the window for as long as the notifier stayed there (millions of iterations under
 * nested KVM).
 *
 * Properties (checked with ./pan -a -f, weak fairness):
 *   assertions, in every run:
 *     WINDOW:    no two early returns from `wait` on one set of the event (early returns per
 *                kick <= 1); the seed's wait fails it
 *     INVARIANT: when `notified` is false the event is clear, or a notifier is inside its
 *                kick, or the owner is inside its accept (monitor process)
 *     END:       an accept that starts after every notifier has finished leaves the event
 *                clear (the loom end-state check)
 *   never claim, default: neither "the event stays set forever" (a busy loop) nor "the owner
 *               sleeps forever while a request is pending" (a lost wakeup)
 *               -- i.e. []<> !event  &&  []<> !(sleeping && req)
 *   never claim, CHECK_REQ: a posted request is never pending forever  -- []<> !req
 *
 * Mutants (must make the check fail; the Rust mutant of the same bug in brackets):
 *   WAIT_KEEPS_LATCH: the seed's wait, the latch found set is left set   [wait_keeps_latch]
 *   BUG1: set `notified` before setting the event              [notified_before_set]
 *   BUG2: skip setting the event when `notified` is already set [skip_set_if_notified]
 *   ACCEPT_LOAD_STORE: the accept as a load and a separate store [accept_load_store]
 *   NO_ACCEPT: the owner never accepts (never clears the event)  [no_accept]
 *   SKIP_NOTIFY: the notifier publishes work but never notifies  [bh_skip_notify]
 * SEED: the seed's protocol (WAIT_KEEPS_LATCH without the WINDOW assertion): it passes
 * everything else, and with -DBUG1 it still busy-loops (the seed's liveness failure).
 * The fence mutants (no_owner_fence, no_notifier_fence, rmw_relaxed, no_sleep_fence,
 * no_latch_fence) cannot be written here: spin's interleavings are sequentially consistent,
 * so every load already sees the latest store.
 */

#ifdef SEED
#define WAIT_KEEPS_LATCH
#else
#define WINDOW_CHECK
#endif

#define NOTIFIERS 2

bool event;          /* the EventNotifier latch */
bool notify_me;      /* written only by the owner */
bool notified;
bool req;            /* work published by a notifier and not yet run by the owner */
bool sleeping;       /* the owner is blocked in EventNotifier::wait */

/* ghosts, for the assertions */
byte kicking;        /* notifiers between the first and the last store of their kick */
bool accepting;      /* the owner between its accept's read of `notified` and its clear */
byte done;           /* notifiers that have finished for good */
#ifdef WINDOW_CHECK
byte early;          /* early returns from wait since the event was last set */
#define SET_EVENT atomic { event = 1; early = 0 }
#else
#define SET_EVENT event = 1
#endif

#define INVARIANT (!event || notified || kicking > 0 || accepting)

active proctype owner()
{
    bool old;
    bool fin;        /* every notifier had finished when this accept started */
    do
    :: true ->
        notify_me = 1;                  /* (1) raise; (2) full fence: SC in spin */
        if
        :: !req ->                      /* (3) re-check for work, none: wait */
            if
            :: atomic { event ->        /*     the latch is set on entry: early return */
#ifdef WINDOW_CHECK
                early++;
                assert(early <= 1);     /*     WINDOW */
#endif
#ifndef WAIT_KEEPS_LATCH
                event = 0               /*     consumed where the owner sees it */
#else
                skip                    /*     the seed's wait: left set */
#endif
               }
            :: else ->
                sleeping = 1;
end_wait:       event;                  /*     block until the event is set (not consumed) */
                sleeping = 0
            fi
        :: else -> skip
        fi;
        notify_me = 0;                  /* (4) lower */
#if defined(NO_ACCEPT)
        fin = (done == NOTIFIERS);
        assert(!fin || !event);         /* END */
#else
#if defined(ACCEPT_LOAD_STORE)
        atomic { fin = (done == NOTIFIERS); old = notified; accepting = 1 };
        notified = 0;                   /* (5) accept, split: a notify can land between */
#else
        atomic { fin = (done == NOTIFIERS); old = notified; notified = 0; accepting = 1 };
                                        /* (5) accept: one RMW (true -> false) */
#endif
        if
        :: old -> event = 0             /*     test_and_clear */
        :: else -> skip
        fi;
        atomic { accepting = 0; assert(!fin || !event) };   /* END */
#endif
        req = 0                         /* (6) run the work found */
    od
}

active [NOTIFIERS] proctype notifier()
{
    do
    :: true ->
        req = 1;                        /* (a) publish the work */
#if defined(SKIP_NOTIFY)
        skip
#else
        if                              /* (b) full fence; (c) */
        :: atomic { notify_me -> kicking++ };
#if defined(BUG1)
            notified = 1;
            atomic { SET_EVENT; kicking-- }
#elif defined(BUG2)
            if
            :: atomic { notified -> kicking-- }
            :: else -> SET_EVENT; atomic { notified = 1; kicking-- }
            fi
#else
            SET_EVENT;                  /*     the window opens ... */
            atomic { notified = 1; kicking-- }   /* ... and closes */
#endif
        :: else -> skip
        fi
#endif
    :: true -> break
    od;
    done++
}

/* INVARIANT in every reachable state: this process may run at any of them. */
active proctype monitor()
{
    assert(INVARIANT)
}

#ifdef CHECK_REQ
never {    /* <>[] req : a request stays pending forever */
T0_init:
    do
    :: req -> goto accept_req_stuck
    :: true
    od;
accept_req_stuck:
    do
    :: req
    od
}
#else
never {    /* <>[] event  ||  <>[] (sleeping && req) */
T0_init:
    do
    :: event -> goto accept_event_stuck
    :: sleeping && req -> goto accept_sleep_stuck
    :: true
    od;
accept_event_stuck:
    do
    :: event
    od;
accept_sleep_stuck:
    do
    :: sleeping && req
    od
}
#endif
