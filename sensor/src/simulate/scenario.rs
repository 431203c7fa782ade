//! Scenarios: a site, its benign behaviours and a mix of attacks over a time span, run as a
//! [`SessionSource`] for the scheduler.
//!
//! Actors wait in a queue ordered by their next action time, so a site of ten thousand hosts over a
//! day is generated in one pass with memory bounded by its actors and the sessions in progress.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::Ipv4Addr;

use super::behaviour::{Actor, Ctx, VariantSet, benign};
use super::rng::Rng;
use super::scheduler::{SessionSource, Spawned};
use super::site::Site;

/// The named scenarios.
pub const SCENARIOS: &[(&str, &str)] = &[
    ("enterprise", "a working day of a Windows domain with every benign behaviour and a mix of attacks"),
    ("benign", "the same site and behaviours, no attack"),
    ("demo", "a small office for 20 minutes with a few attacks of each kind"),
];

/// Settings of one simulation run.
#[derive(Debug, Clone)]
pub struct ScenarioConfig {
    pub name: String,
    pub seed: u64,
    pub workstations: u32,
    pub start_ns: u64,
    pub duration_ns: u64,
    /// Attack kinds and how many instances of each.
    pub attacks: Vec<(String, u32)>,
    pub variants: VariantSet,
    /// Scale of large transfers and long activities (1 = realistic sizes).
    pub volume: f64,
    /// Share of TCP connections captured on one of their hosts instead of on the wire, half on the
    /// client, half on the server ([`super::tcp::Vantage`]); 0 = all on the wire.
    pub host_vantage: f64,
}

/// Error in a scenario's settings.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScenarioError {
    #[error("unknown scenario {0:?} (known: {known})", known = SCENARIOS.iter().map(|s| s.0).collect::<Vec<_>>().join(", "))]
    UnknownScenario(String),
    #[error("unknown attack {0:?} (known: {known})", known = super::behaviour::attack_names().join(", "))]
    UnknownAttack(String),
}

/// The simulation as a source of sessions.
pub struct Simulation {
    site: Site,
    actors: Vec<Box<dyn Actor>>,
    queue: BinaryHeap<Reverse<(u64, u32)>>,
    ports: HashMap<Ipv4Addr, u16>,
    variants: VariantSet,
    volume: f64,
    host_vantage: f64,
    end_ns: u64,
}

impl Simulation {
    pub fn new(cfg: &ScenarioConfig) -> Result<Simulation, ScenarioError> {
        if !SCENARIOS.iter().any(|s| s.0 == cfg.name) {
            return Err(ScenarioError::UnknownScenario(cfg.name.clone()));
        }
        let root = Rng::new(cfg.seed);
        let site = Site::new(cfg.workstations, &mut root.derive(1));
        let end_ns = cfg.start_ns + cfg.duration_ns;
        let mut actors: Vec<(u64, Box<dyn Actor>)> =
            benign::actors(&site, cfg.start_ns, cfg.duration_ns, &root.derive(2));
        let mut rng = root.derive(3);
        for (kind, count) in &cfg.attacks {
            for instance in 0..*count {
                // Attacks start between 10 % and 70 % of the span, so that they finish inside it.
                let at = cfg.start_ns + cfg.duration_ns / 10 + rng.range(0, cfg.duration_ns * 6 / 10);
                let actor =
                    super::behaviour::attack(kind, instance, &site, cfg.variants, &mut rng.derive(u64::from(instance)))
                        .ok_or_else(|| ScenarioError::UnknownAttack(kind.clone()))?;
                actors.push((at, actor));
            }
        }
        let mut queue = BinaryHeap::new();
        let mut list = Vec::with_capacity(actors.len());
        for (i, (t, a)) in actors.into_iter().enumerate() {
            queue.push(Reverse((t, i as u32)));
            list.push(a);
        }
        Ok(Simulation {
            site,
            actors: list,
            queue,
            ports: HashMap::new(),
            variants: cfg.variants,
            volume: cfg.volume,
            host_vantage: cfg.host_vantage,
            end_ns,
        })
    }

    pub fn site(&self) -> &Site {
        &self.site
    }
}

impl SessionSource for Simulation {
    fn next_start(&self) -> Option<u64> {
        self.queue.peek().map(|Reverse((t, _))| *t).filter(|t| *t < self.end_ns)
    }

    fn spawn(&mut self, out: &mut Vec<Spawned>) {
        let Some(Reverse((t, i))) = self.queue.pop() else { return };
        let Simulation { site, actors, ports, variants, volume, host_vantage, end_ns, .. } = self;
        let mut ctx = Ctx::new(site, *variants, *volume, *end_ns, ports);
        ctx.host_vantage = *host_vantage;
        if let Some(next) = actors[i as usize].act(t, &mut ctx, out) {
            let next = next.max(t + 1);
            if next < self.end_ns {
                self.queue.push(Reverse((next, i)));
            }
        }
    }
}

/// The default attack mix of a scenario.
pub fn default_attacks(name: &str) -> Vec<(String, u32)> {
    match name {
        "benign" => Vec::new(),
        "demo" => super::behaviour::attack_names().iter().map(|n| (n.to_string(), 1)).collect(),
        _ => super::behaviour::attack_names().iter().map(|n| (n.to_string(), 2)).collect(),
    }
}
