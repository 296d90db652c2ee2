//! Re-simulation of a replay: [`Replayer`] steps a world through a file's records;
//! [`verify`] checks every recorded hash and names where it first differs; [`info`]
//! summarises a match. Pure functions of the bytes: the browser build runs the same code.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;

use crate::entity::{EntityId, NetEntity, NetId};
use crate::input::PlayerInput;
use crate::replay::{map_hash, mark_lost, mark_resumed, Header, Reader, Record, ReplayError};
use crate::sim::{self, GameEvent};
use crate::tick::Tick;
use crate::world::World;

/// A world stepped through a replay's records, exactly as the room did.
#[derive(Clone)]
pub struct Replayer {
    /// The world.
    pub world: World,
    ids: HashMap<NetId, EntityId>,
    inputs: Vec<(EntityId, PlayerInput)>,
}

/// A record that cannot be applied to the world (a file that does not match its header,
/// or a simulation that differs from the recording's).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("tick {tick}: {what}")]
pub struct ApplyError {
    /// The world's tick.
    pub tick: u32,
    /// What went wrong.
    pub what: String,
}

impl Replayer {
    /// The world of `header` at tick 0.
    #[must_use]
    pub fn new(header: &Header) -> Replayer {
        Replayer {
            world: header.world(),
            ids: HashMap::new(),
            inputs: Vec::new(),
        }
    }

    /// The entity of a player, by network id.
    #[must_use]
    pub fn entity(&self, id: NetId) -> Option<EntityId> {
        self.ids.get(&id).copied()
    }

    /// Applies one record; the events of the step for a [`Record::Tick`].
    ///
    /// # Errors
    /// A join that got another network id than recorded, or a record about a player not
    /// in the world.
    pub fn apply(&mut self, record: &Record) -> Result<Vec<GameEvent>, ApplyError> {
        let tick = self.world.tick.0;
        let err = |what: String| ApplyError { tick, what };
        let player = |id: &NetId| {
            self.ids
                .get(id)
                .copied()
                .ok_or_else(|| err(format!("no player {}", id.0)))
        };
        match record {
            Record::Tick { inputs } => {
                self.inputs.clear();
                for (id, input) in inputs {
                    // A player gone from the world is skipped, as the room's step does.
                    if let Some(e) = self.ids.get(id) {
                        self.inputs.push((*e, *input));
                    }
                }
                return Ok(sim::step(&mut self.world, &self.inputs));
            }
            Record::Join { player, name } => {
                let e = sim::spawn::add_player(&mut self.world, name);
                let got = self.world.entities[e].net_id;
                if got != *player {
                    return Err(err(format!(
                        "join of {name:?} got network id {} (recorded {})",
                        got.0, player.0
                    )));
                }
                self.ids.insert(*player, e);
            }
            Record::Leave { player: id } => {
                let e = player(id)?;
                sim::spawn::remove_player(&mut self.world, e);
                self.ids.remove(id);
            }
            Record::Lost { player: id } => mark_lost(&mut self.world, player(id)?),
            Record::Resumed { player: id } => mark_resumed(&mut self.world, player(id)?),
            Record::Hash { .. } | Record::Keyframe { .. } | Record::End { .. } => {}
        }
        Ok(Vec::new())
    }
}

/// Where a re-simulation first differs from its recording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// The first tick whose hash differs (with `hash_every` > 1: the first checked one).
    pub tick: Tick,
    /// The recorded hash.
    pub recorded: u64,
    /// The re-simulated hash.
    pub replayed: u64,
    /// The first keyframe at or after `tick`, whose state named `entities`.
    pub keyframe: Option<Tick>,
    /// The entities whose replicated state differs at `keyframe`, by network id (the
    /// player whose input or rule differed, and what it touched since).
    pub entities: Vec<NetId>,
    /// A record that could not be applied any more, if that is how it ended.
    pub apply_error: Option<String>,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "first differing tick {}: recorded hash {:016x}, re-simulated {:016x}",
            self.tick.0, self.recorded, self.replayed
        )?;
        match self.keyframe {
            Some(k) => {
                let ids: Vec<String> = self.entities.iter().map(|e| e.0.to_string()).collect();
                write!(
                    f,
                    "; entities differing at keyframe {}: [{}]",
                    k.0,
                    ids.join(", ")
                )?;
            }
            None => write!(f, "; no keyframe after it to name the entities")?,
        }
        if let Some(e) = &self.apply_error {
            write!(f, "; then: {e}")?;
        }
        Ok(())
    }
}

/// What [`verify`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Ticks re-simulated.
    pub ticks: u32,
    /// Recorded hashes checked (and equal, up to the mismatch).
    pub hashes_checked: u64,
    /// Keyframes whose whole state was compared (and equal).
    pub keyframes_checked: u64,
    /// The file holds the whole match (an `End` record saying so).
    pub complete: bool,
    /// Why the recording ended (its `End` record; "truncated" without one).
    pub end_reason: String,
    /// The first difference, if any.
    pub mismatch: Option<Mismatch>,
    /// The re-simulated world hash after every tick, in order (tick 1 first).
    pub tick_hashes: Vec<u64>,
}

impl Verdict {
    /// Every recorded hash re-simulated equal (a cut recording verifies up to its cut).
    #[must_use]
    pub fn ok(&self) -> bool {
        self.mismatch.is_none()
    }
}

/// The entities whose replicated views differ between two sorted states.
fn differing(a: &[(NetId, NetEntity)], b: &[(NetId, NetEntity)]) -> Vec<NetId> {
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x.0 == y.0 => {
                if x.1 != y.1 {
                    out.push(x.0);
                }
                i += 1;
                j += 1;
            }
            (Some(x), Some(y)) if x.0 < y.0 => {
                out.push(x.0);
                i += 1;
            }
            (Some(_), Some(y)) | (None, Some(y)) => {
                out.push(y.0);
                j += 1;
            }
            (Some(x), None) => {
                out.push(x.0);
                i += 1;
            }
            (None, None) => break,
        }
    }
    out
}

/// Re-simulates a replay from its header and inputs and checks every recorded hash (and
/// every keyframe's state). At the first hash that differs it goes on to the next keyframe
/// to name the entities that differ, then stops.
///
/// # Errors
/// The file is not a readable replay (a mismatch is a [`Verdict`], not an error).
pub fn verify(input: impl Read) -> Result<Verdict, ReplayError> {
    let mut reader = Reader::new(input)?;
    let header = reader.header().clone();
    let mut v = Verdict {
        end_reason: "truncated".into(),
        ..Verdict::default()
    };
    if map_hash(&header.map) != header.map_hash {
        return Err(ReplayError::Corrupt(
            "the map does not match its hash".into(),
        ));
    }
    let mut rep = Replayer::new(&header);
    let mut pending: Option<Mismatch> = None;
    while let Some(record) = reader.next()? {
        if let Err(e) = rep.apply(&record) {
            let m = pending.take().unwrap_or(Mismatch {
                tick: Tick(e.tick),
                recorded: 0,
                replayed: 0,
                keyframe: None,
                entities: Vec::new(),
                apply_error: None,
            });
            v.mismatch = Some(Mismatch {
                apply_error: Some(e.to_string()),
                ..m
            });
            return Ok(v);
        }
        match &record {
            Record::Tick { .. } => {
                v.ticks += 1;
                if pending.is_none() {
                    v.tick_hashes.push(rep.world.hash());
                }
            }
            Record::Hash { tick, hash } if pending.is_none() => {
                let now = if *tick == rep.world.tick {
                    v.tick_hashes
                        .last()
                        .copied()
                        .unwrap_or_else(|| rep.world.hash())
                } else {
                    rep.world.hash()
                };
                if *tick != rep.world.tick || now != *hash {
                    pending = Some(Mismatch {
                        tick: *tick,
                        recorded: *hash,
                        replayed: now,
                        keyframe: None,
                        entities: Vec::new(),
                        apply_error: None,
                    });
                } else {
                    v.hashes_checked += 1;
                }
            }
            Record::Keyframe { tick, state } if *tick == rep.world.tick => {
                let diff = differing(state, &rep.world.net_state());
                if let Some(mut m) = pending.take() {
                    m.keyframe = Some(*tick);
                    m.entities = diff;
                    v.mismatch = Some(m);
                    return Ok(v);
                }
                if diff.is_empty() {
                    v.keyframes_checked += 1;
                } else {
                    // Equal hashes but different states: the hash misses a field.
                    v.mismatch = Some(Mismatch {
                        tick: *tick,
                        recorded: 0,
                        replayed: 0,
                        keyframe: Some(*tick),
                        entities: diff,
                        apply_error: None,
                    });
                    return Ok(v);
                }
            }
            Record::End {
                complete, reason, ..
            } => {
                v.complete = *complete;
                v.end_reason.clone_from(reason);
            }
            _ => {}
        }
    }
    if let Some(m) = pending {
        v.mismatch = Some(m);
    }
    Ok(v)
}

/// One player of a match, as [`info`] tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlayerSummary {
    /// Network id.
    pub id: NetId,
    /// Name shown.
    pub name: String,
    /// Kills scored.
    pub kills: u32,
    /// Deaths.
    pub deaths: u32,
    /// Ticks in the world.
    pub ticks: u32,
}

/// A summary of a recorded match.
#[derive(Clone, Debug, PartialEq)]
pub struct Info {
    /// The header.
    pub header: Header,
    /// Ticks recorded.
    pub ticks: u32,
    /// Duration, seconds.
    pub seconds: f64,
    /// Every player that joined, by network id.
    pub players: Vec<PlayerSummary>,
    /// Kills in the match.
    pub kills: u32,
    /// The recording holds the whole match.
    pub complete: bool,
    /// Why it ended.
    pub end_reason: String,
}

/// Summarises a replay by re-simulating it (players, duration, kills).
///
/// # Errors
/// The file is not a readable replay, or does not re-simulate.
pub fn info(input: impl Read) -> Result<Info, ReplayError> {
    let mut reader = Reader::new(input)?;
    let header = reader.header().clone();
    let mut rep = Replayer::new(&header);
    let mut players: BTreeMap<NetId, PlayerSummary> = BTreeMap::new();
    let (mut ticks, mut kills) = (0u32, 0u32);
    let (mut complete, mut end_reason) = (false, String::from("truncated"));
    while let Some(record) = reader.next()? {
        let events = rep
            .apply(&record)
            .map_err(|e| ReplayError::Corrupt(e.to_string()))?;
        match &record {
            Record::Tick { .. } => {
                ticks += 1;
                for id in rep.ids.keys() {
                    if let Some(p) = players.get_mut(id) {
                        p.ticks += 1;
                    }
                }
            }
            Record::Join { player, name } => {
                players.insert(
                    *player,
                    PlayerSummary {
                        id: *player,
                        name: name.clone(),
                        kills: 0,
                        deaths: 0,
                        ticks: 0,
                    },
                );
            }
            Record::End {
                complete: c,
                reason,
                ..
            } => {
                complete = *c;
                end_reason.clone_from(reason);
            }
            _ => {}
        }
        for e in events {
            if let GameEvent::Kill { killer, victim } = e {
                kills += 1;
                if let Some(p) = players.get_mut(&killer) {
                    p.kills += 1;
                }
                if let Some(p) = players.get_mut(&victim) {
                    p.deaths += 1;
                }
            }
        }
    }
    let seconds = f64::from(ticks) / f64::from(header.config.tick_hz.max(1));
    Ok(Info {
        header,
        ticks,
        seconds,
        players: players.into_values().collect(),
        kills,
        complete,
        end_reason,
    })
}
