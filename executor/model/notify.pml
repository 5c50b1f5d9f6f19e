/*
 * aiolos: the notify_me / notified handshake of executor/src/context.rs, in Promela.
 *
 * One owner (the core that runs the context's poll loop) and two notifiers (other cores or
 * interrupt handlers). Spin interleaves as if memory were sequentially consistent, which is
 * what the two full fences (owner step 2, notifier step b) buy us; the weak-memory side is
 * checked by loom on the Rust code (executor/tests/loom.rs).
 *
 * Properties (checked with ./pan -a -f, weak fairness):
 *   default:    neither "the event stays set forever" (the owner busy-loops: BUG1)
 *               nor "the owner sleeps forever while a request is pending" (lost wakeup: BUG2)
 *               -- i.e. []<> !event  &&  []<> !(sleeping && req)
 *   CHECK_REQ:  a posted request is never pending forever  -- []<> !req
 *
 * Mutants (must make the check fail; the Rust mutant of the same bug in brackets):
 *   BUG1: set `notified` before setting the event              [notified_before_set]
 *   BUG2: skip setting the event when `notified` is already set [skip_set_if_notified]
 *   ACCEPT_LOAD_STORE: the accept as a load and a separate store [accept_load_store]
 *   NO_ACCEPT: the owner never accepts (never clears the event)  [no_accept]
 *   SKIP_NOTIFY: the notifier publishes work but never notifies  [bh_skip_notify]
 * The fence mutants (no_owner_fence, no_notifier_fence, rmw_relaxed, no_sleep_fence,
 * no_latch_fence) cannot be written here: spin's interleavings are sequentially consistent,
 * so every load already sees the latest store.
 */

bool event;          /* the EventNotifier latch */
bool notify_me;      /* written only by the owner */
bool notified;
bool req;            /* work published by a notifier and not yet run by the owner */
bool sleeping;       /* the owner is blocked in EventNotifier::wait */

active proctype owner()
{
    bool old;
    do
    :: true ->
        notify_me = 1;                  /* (1) raise; (2) full fence: SC in spin */
        if
        :: !req ->                      /* (3) re-check for work, none: sleep */
            sleeping = 1;
end_wait:   event;                      /*     wait until the event is set */
            sleeping = 0
        :: else -> skip
        fi;
        notify_me = 0;                  /* (4) lower */
#if defined(NO_ACCEPT)
        skip;
#else
#if defined(ACCEPT_LOAD_STORE)
        old = notified;                 /* (5) accept, split: a notify can land between */
        notified = 0;
#else
        atomic { old = notified; notified = 0 };   /* (5) accept: one RMW (true -> false) */
#endif
        if
        :: old -> event = 0             /*     test_and_clear */
        :: else -> skip
        fi;
#endif
        req = 0                         /* (6) run the work found */
    od
}

active [2] proctype notifier()
{
    do
    :: true ->
        req = 1;                        /* (a) publish the work */
#if defined(SKIP_NOTIFY)
        skip
#else
        if                              /* (b) full fence; (c) */
        :: notify_me ->
#if defined(BUG1)
            notified = 1;
            event = 1
#elif defined(BUG2)
            if
            :: notified -> skip
            :: else -> event = 1; notified = 1
            fi
#else
            event = 1;
            notified = 1
#endif
        :: else -> skip
        fi
#endif
    :: true -> break
    od
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
