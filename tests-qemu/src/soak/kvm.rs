//! One process of the nested-KVM soak (`--accel kvm`): one outer Linux boot (the kit in
//! `boot::kvm`) whose inner QEMU runs the stress kernel under KVM without `-no-reboot`, so
//! each passing round's PSCI SYSTEM_RESET boots the next one inside the same outer boot (an
//! outer boot costs seconds of TCG). The relayed console goes through the same
//! [`Counter`](super::run::Counter) as a TCG process; the outer VM is stopped once the
//! slot's rounds are counted, at the first failure, or after the silence limit.

use std::path::Path;
use std::time::Duration;

use super::plan::Slot;
use super::run::{Counter, Next, Outcome};
use crate::boot::kvm::{self, StreamError};

/// How one nested-KVM process ended.
pub enum Ran {
    Done(Outcome),
    /// The arm64 packages could not be prepared (no network, no apt).
    Setup(String),
}

/// The outer run's time limit for `rounds` rounds: its boot, then generous per round (the
/// silence limit catches a hang long before).
fn timeout(rounds: u32) -> Duration {
    Duration::from_secs(120 + 60 * u64::from(rounds))
}

/// Run `slot` (its smp; GICv3, EL1, `-cpu host`: what nested KVM offers) with bootargs
/// `stress reboot` plus `extra`; keep the console at `log_path` if anything fails.
pub fn run(slot: &Slot, kernel: &Path, extra: &str, log_path: &Path) -> Ran {
    let append = format!("stress reboot {extra}").trim().to_string();
    let mut counter = Counter::new(slot.rounds);
    let mut stopped = false;
    let mut on_line = |line: Option<&str>| {
        if stopped {
            return false;
        }
        let next = match line {
            None => counter.quiet(),
            Some(l) if l.trim_start().starts_with("=== guest end rc=") => {
                counter.ended(&format!(
                    "the inner QEMU ended ({}) without a verdict",
                    l.trim()
                ));
                Next::Stop
            }
            Some(l) => {
                let before = counter.out.rounds_ok;
                let next = counter.line(l);
                if counter.out.rounds_ok > before {
                    // One outer boot carries all of a process's rounds: show them as they pass.
                    let t = counter.out.round_times.last().copied().unwrap_or_default();
                    println!(
                        "soak: {} round {}/{} ok ({:.1}s)",
                        slot.describe(),
                        counter.out.rounds_ok,
                        slot.rounds,
                        t.as_secs_f64()
                    );
                }
                next
            }
        };
        stopped = next == Next::Stop;
        !stopped
    };
    let r = kvm::run_streamed(
        kernel,
        slot.cfg.smp,
        &append,
        timeout(slot.rounds),
        &mut on_line,
    );
    let streamed = match r {
        Ok(s) => s,
        Err(StreamError::Setup(e)) => return Ran::Setup(e),
        Err(StreamError::Run(e)) => {
            counter.ended(&e);
            return Ran::Done(counter.finish(&slot.describe(), log_path));
        }
    };
    if streamed.timed_out {
        counter.ended(&format!(
            "outer run timed out after {:?}",
            timeout(slot.rounds)
        ));
    }
    counter.ended("the outer VM ended before the rounds were done");
    if !streamed.kvm && counter.out.failure.is_none() {
        // Rounds that ran without verified KVM do not count as KVM rounds.
        counter.out.failure =
            Some("KVM use not verified (no `accel: kvm` / `-accel kvm` lines)".into());
    }
    let outer = streamed
        .outer_boot
        .map_or("-".into(), |d| format!("{:.1}s", d.as_secs_f64()));
    println!(
        "soak: proc {}: outer boot {outer}, outer run {:.1}s",
        slot.describe(),
        streamed.total.as_secs_f64()
    );
    Ran::Done(counter.finish(&slot.describe(), log_path))
}
