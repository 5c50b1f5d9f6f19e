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
 * Mutants (must make the check fail):
 *   BUG1: set `notified` before setting the event
 *   BUG2: skip setting the event when `notified` is already set
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
        atomic { old = notified; notified = 0 };   /* (5) accept: swap(false) */
        if
        :: old -> event = 0             /*     test_and_clear */
        :: else -> skip
        fi;
        req = 0                         /* (6) run the work found */
    od
}

active [2] proctype notifier()
{
    do
    :: true ->
        req = 1;                        /* (a) publish the work */
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
