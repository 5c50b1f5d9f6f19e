//! Deadlines of socket calls, kept by the stack task: one executor timer (the stack
//! task's) serves every connection's timeout, however many connections there are.
//!
//! Why not `executor::with_timeout` around each read: each pending timer holds one of its
//! context's fixed timer slots (`executor::TIMER_SLOTS`, 32), and a core serving more
//! connections than that would degrade to re-polling. Here a socket call that must not
//! wait past a tick count records `(deadline, waker)` in its socket's entry (under the
//! stack's lock); the stack task wakes at the earliest recorded deadline, wakes the tasks
//! whose deadline passed, and those calls return `TcpError::TimedOut`.

use alloc::vec::Vec;
use core::task::Waker;

/// One entry per TCP socket (by the index `net::tcp_socket` gave it).
pub struct Deadlines {
    slots: Vec<Option<(u64, Waker)>>,
    /// The clock tick the stack task sleeps until (`u64::MAX`: no timer).
    pub planned_wake: u64,
}

impl Deadlines {
    pub fn new() -> Self {
        Deadlines {
            slots: Vec::new(),
            planned_wake: u64::MAX,
        }
    }

    /// A new entry; returns its index.
    pub fn add(&mut self) -> usize {
        self.slots.push(None);
        self.slots.len() - 1
    }

    /// Records that `waker` waits on socket `i` until `deadline`; true if the stack task
    /// sleeps past it (then it must be kicked to recompute its timer).
    pub fn set(&mut self, i: usize, deadline: u64, waker: &Waker) -> bool {
        if let Some(slot) = self.slots.get_mut(i) {
            match slot {
                Some((d, w)) if *d == deadline && w.will_wake(waker) => {}
                _ => *slot = Some((deadline, waker.clone())),
            }
        }
        deadline < self.planned_wake
    }

    /// The call on socket `i` is over (done or timed out).
    pub fn clear(&mut self, i: usize) {
        if let Some(slot) = self.slots.get_mut(i) {
            *slot = None;
        }
    }

    /// Wakes every waiter whose deadline is at or before `now`; returns the earliest
    /// deadline still pending (`u64::MAX`: none).
    pub fn expire(&mut self, now: u64) -> u64 {
        let mut earliest = u64::MAX;
        for slot in self.slots.iter_mut() {
            match slot {
                Some((d, _)) if *d <= now => {
                    if let Some((_, w)) = slot.take() {
                        w.wake();
                    }
                }
                Some((d, _)) => earliest = earliest.min(*d),
                None => {}
            }
        }
        earliest
    }
}
