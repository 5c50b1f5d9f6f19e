//! The soak's schedule: which QEMU configuration each process boots, drawn from a seeded
//! splitmix64 (the same seed gives the same schedule).

use crate::boot::qemu::BootConfig;

/// splitmix64 (Steele, Lea, Flood 2014): small, fast, and enough for a test schedule.
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0; the modulo bias is irrelevant here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

pub const CPUS: &[&str] = &[
    "cortex-a53",
    "cortex-a57",
    "cortex-a72",
    "cortex-a76",
    "neoverse-n1",
    "max",
];

/// One QEMU process of the soak: its configuration and how many rounds it carries.
#[derive(Clone, Debug)]
pub struct Slot {
    pub cfg: BootConfig,
    /// `Some(base)`: the Image at this 2 MiB-aligned base (generic loader) instead of the ELF.
    pub load_addr: Option<u64>,
    pub rounds: u32,
}

impl Slot {
    pub fn describe(&self) -> String {
        let base = self
            .load_addr
            .map_or("elf".to_string(), |a| format!("image@{a:#x}"));
        format!(
            "gic{}-el{}-smp{}-{}-{}",
            self.cfg.gic, self.cfg.el, self.cfg.smp, self.cfg.cpu, base
        )
    }
}

/// The schedule for `boots` rounds, `per_process` rounds per QEMU process.
pub fn schedule(seed: u64, boots: u32, per_process: u32, only_gic: Option<u32>) -> Vec<Slot> {
    let mut rng = SplitMix64::new(seed);
    let mut out = Vec::new();
    let mut left = boots;
    while left > 0 {
        let rounds = left.min(per_process);
        left -= rounds;
        // One process in ten at 16 cores (GICv3 only: GICv2 stops at 8).
        let smp = if rng.below(10) == 0 {
            16
        } else {
            2 + rng.below(7) as u32
        };
        let gic = if smp > 8 { 3 } else { 2 + rng.below(2) as u32 };
        // `--gic`: the draw above still happens, so the rest of the schedule is unchanged.
        let (gic, smp) = match only_gic {
            Some(2) => (2, smp.min(8)),
            Some(g) => (g, smp),
            None => (gic, smp),
        };
        let el = 1 + rng.below(2) as u32;
        let cpu = CPUS[rng.below(CPUS.len() as u64) as usize].to_string();
        // Half the processes boot the Image at a 2 MiB-aligned base in 0x4020_0000..0x5000_0000.
        let load_addr = (rng.below(2) == 0).then(|| 0x4020_0000 + (rng.below(120) << 21));
        let cfg = BootConfig {
            smp,
            gic,
            el,
            cpu,
            cpu_explicit: true,
            ..BootConfig::default()
        };
        out.push(Slot {
            cfg,
            load_addr,
            rounds,
        });
    }
    out
}

/// The schedule under nested KVM: the same draws, then what the outer VM offers: GICv3 (its
/// KVM has no GICv2 emulation), EL1, `-cpu host`, the ELF (QEMU's DTB under KVM is not the
/// TCG one a relocated Image would carry), at most 8 cores (`cargo xtask kvm --smp`).
pub fn schedule_kvm(seed: u64, boots: u32, per_process: u32) -> Vec<Slot> {
    schedule(seed, boots, per_process, Some(3))
        .into_iter()
        .map(|mut s| {
            s.cfg.smp = s.cfg.smp.min(8);
            s.cfg.el = 1;
            s.cfg.cpu = "host".into();
            s.load_addr = None;
            s
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_gic_keeps_the_other_draws() {
        let all = schedule(9, 500, 10, None);
        let v3 = schedule(9, 500, 10, Some(3));
        let v2 = schedule(9, 500, 10, Some(2));
        assert!(v3.iter().all(|s| s.cfg.gic == 3));
        assert!(v2.iter().all(|s| s.cfg.gic == 2 && s.cfg.smp <= 8));
        for (a, b) in all.iter().zip(&v3) {
            assert_eq!(
                (a.cfg.smp, a.cfg.el, &a.cfg.cpu),
                (b.cfg.smp, b.cfg.el, &b.cfg.cpu)
            );
            assert_eq!(a.load_addr, b.load_addr);
        }
    }

    #[test]
    fn kvm_schedule_is_what_nested_kvm_offers() {
        let k = schedule_kvm(3, 400, 20);
        assert_eq!(k.iter().map(|s| s.rounds).sum::<u32>(), 400);
        assert!(k.iter().all(|s| s.cfg.gic == 3
            && s.cfg.el == 1
            && s.cfg.cpu == "host"
            && (2..=8).contains(&s.cfg.smp)
            && s.load_addr.is_none()));
        assert!(k.iter().any(|s| s.cfg.smp != k[0].cfg.smp));
    }

    #[test]
    fn same_seed_same_schedule_other_seed_differs() {
        let a: Vec<String> = schedule(7, 300, 10, None)
            .iter()
            .map(Slot::describe)
            .collect();
        let b: Vec<String> = schedule(7, 300, 10, None)
            .iter()
            .map(Slot::describe)
            .collect();
        let c: Vec<String> = schedule(8, 300, 10, None)
            .iter()
            .map(Slot::describe)
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            schedule(7, 305, 10, None)
                .iter()
                .map(|s| s.rounds)
                .sum::<u32>(),
            305
        );
        assert!(schedule(1, 3000, 1, None)
            .iter()
            .all(|s| s.cfg.smp <= 8 || s.cfg.gic == 3));
    }
}

#[cfg(test)]
mod long_round {
    /// The suite's long round (`cases::soak`, `soak-tcg-long-10m`: seed 9, 2,500,000 ring
    /// hops per core) reaches its 10,000,000 wakeups on 4 cores; the KVM soak's seed is 9 too.
    #[test]
    fn seed_9_has_4_cores() {
        let s = &super::schedule(9, 1, 25, Some(3))[0];
        assert_eq!(s.cfg.smp, 4, "{}", s.describe());
        assert_eq!(super::schedule_kvm(9, 20, 20)[0].cfg.smp, 4);
    }
}
