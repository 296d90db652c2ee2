//! `World::hash` covers every field of the authoritative state by construction (it hashes
//! the world's derived `Serialize`): this test finds the fields itself, by walking the
//! serialized form of one entity of every kind, and changes each one in turn. A field
//! added to any kind is perturbed here the day it is added, with no line to write.

mod common;

use common::*;
use glam::Vec2;
use serde_json::Value;
use tickwire_shared::entity::{Entity, EntityKind, NetEntity};
use tickwire_shared::sim::{self, spawn};
use tickwire_shared::World;

/// A world a few ticks into a game, holding at least one entity of every replicated kind
/// (players, a projectile in flight, pickups) with their optional fields set.
fn busy_world() -> World {
    let mut map = open_map(1200.0, 800.0, &[[100.0, 100.0], [1100.0, 700.0]]);
    map.pickups = vec![[600.0, 400.0], [300.0, 400.0]];
    let mut w = world(map, 11);
    let a = spawn::add_player(&mut w, "a");
    let b = spawn::add_player(&mut w, "b");
    place(&mut w, a, Vec2::new(300.0, 400.0));
    place(&mut w, b, Vec2::new(800.0, 400.0));
    // `a` walks onto a pickup while hurt (the pickup's timer is set) and fires.
    if let EntityKind::Player(p) = &mut w.entities[a].kind {
        p.hp = 40;
    }
    sim::step(&mut w, &[(a, input(0.0, 0.0, 0.0, true)), (b, idle())]);
    sim::step(&mut w, &[(a, input(0.5, 0.5, 0.3, true))]);
    // `b` is dead and waits for its respawn (its timer is set).
    if let EntityKind::Player(p) = &mut w.entities[b].kind {
        p.hp = 0;
        p.respawn_at = Some(w.tick.plus(50));
    }
    let kinds: std::collections::BTreeSet<&str> = w
        .entities
        .values()
        .map(|e| e.to_net().kind_name())
        .collect();
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        sorted(NetEntity::KINDS),
        "the test world holds every kind: add the new one to busy_world()"
    );
    w
}

fn sorted<'a>(v: &[&'a str]) -> Vec<&'a str> {
    let mut v = v.to_vec();
    v.sort_unstable();
    v
}

/// Paths to every leaf (number, string, bool) of a serialized value, and to every empty
/// object (a struct with no field yet, like `Abilities` in a game without abilities).
fn leaves(v: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        Value::Object(m) if m.is_empty() => out.push(path.clone()),
        Value::Object(m) => {
            for (k, x) in m {
                path.push(k.clone());
                leaves(x, path, out);
                path.pop();
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                path.push(i.to_string());
                leaves(x, path, out);
                path.pop();
            }
        }
        Value::Null => {}
        _ => out.push(path.clone()),
    }
}

/// The field names the derived `Debug` of `e` prints (`name: value`), strings skipped.
fn debug_fields(e: &Entity) -> Vec<String> {
    let text = format!("{e:?}");
    let mut out = Vec::new();
    let mut in_str = false;
    let mut word = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_str {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => in_str = false,
                _ => {}
            }
            continue;
        }
        if c == '"' {
            in_str = true;
        } else if c.is_alphanumeric() || c == '_' {
            word.push(c);
            continue;
        } else if c == ':' && chars.peek() == Some(&' ') && !word.is_empty() {
            out.push(word.clone());
        }
        word.clear();
    }
    out
}

fn at<'a>(v: &'a mut Value, path: &[String]) -> &'a mut Value {
    path.iter().fold(v, |v, k| match v {
        Value::Object(m) => m.get_mut(k).expect("path"),
        Value::Array(a) => &mut a[k.parse::<usize>().expect("index")],
        _ => unreachable!(),
    })
}

/// Values to try for a leaf instead of `v`, nearest first.
fn changes(v: &Value) -> Vec<Value> {
    match v {
        Value::Bool(b) => vec![Value::Bool(!b)],
        Value::String(s) => vec![Value::String(format!("{s}~"))],
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                [u.checked_add(1), u.checked_sub(1), u.checked_add(2)]
                    .into_iter()
                    .flatten()
                    .map(Value::from)
                    .collect()
            } else if let Some(i) = n.as_i64() {
                vec![Value::from(i + 1), Value::from(i - 1)]
            } else {
                let f = n.as_f64().expect("a number");
                vec![Value::from(f + 1.0), Value::from(f - 1.0)]
            }
        }
        _ => Vec::new(),
    }
}

#[test]
fn every_field_of_every_kind_changes_the_hash() {
    use std::collections::{BTreeMap, BTreeSet};
    let w = busy_world();
    let base = w.hash();
    let mut perturbed = 0;
    // Per kind: the fields `Debug` prints, and the path segments of the leaves changed.
    let mut fields: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut changed_paths: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (id, e) in &w.entities {
        let kind = e.to_net().kind_name();
        fields.entry(kind).or_default().extend(debug_fields(e));
        let value = serde_json::to_value(e).expect("serializes");
        let mut paths = Vec::new();
        leaves(&value, &mut Vec::new(), &mut paths);
        for path in paths {
            if at(&mut value.clone(), &path).as_object().is_some() {
                // An empty struct: nothing to change, nothing to hash.
                changed_paths
                    .entry(kind)
                    .or_default()
                    .extend(path.iter().cloned());
                continue;
            }
            let mut changed = None;
            for new in changes(at(&mut value.clone(), &path)) {
                let mut v = value.clone();
                *at(&mut v, &path) = new;
                // Some values do not decode (a key's version must stay odd): try the next.
                if let Ok(other) = serde_json::from_value::<Entity>(v) {
                    if other != *e {
                        changed = Some(other);
                        break;
                    }
                }
            }
            let other = changed.unwrap_or_else(|| panic!("no change of {path:?} decodes"));
            let mut w2 = w.clone();
            w2.entities[id] = other;
            assert_ne!(
                w2.hash(),
                base,
                "{kind} field {} is not in World::hash",
                path.join(".")
            );
            changed_paths
                .entry(kind)
                .or_default()
                .extend(path.iter().cloned());
            perturbed += 1;
        }
    }
    assert_eq!(
        fields.keys().copied().collect::<Vec<_>>(),
        sorted(NetEntity::KINDS)
    );
    // Every field was changed in at least one entity of its kind. A field left out of
    // `Serialize` (`#[serde(skip)]`, a hand-written impl) fails here, and so does one that
    // is `None` in every entity of busy_world() (give one entity a value).
    for (kind, names) in &fields {
        for name in names {
            assert!(
                changed_paths[kind].contains(name),
                "{kind} field {name} was never changed: it is left out of Serialize (so out of \
                 World::hash), or busy_world() never sets it"
            );
        }
    }
    assert!(perturbed > 30, "{perturbed}");
}

#[test]
fn the_world_level_state_changes_the_hash() {
    let w = busy_world();
    let base = w.hash();
    let value = serde_json::to_value(&w).expect("serializes");
    let Value::Object(fields) = value else {
        panic!("a struct");
    };
    let names: Vec<&str> = fields.keys().map(String::as_str).collect();
    // What the world holds besides the map and the step's scratch space. A new field of
    // `World` is hashed by construction; name it here once its change is tested below.
    assert_eq!(
        sorted(&names),
        ["config", "entities", "next_net_id", "rng", "tick"],
    );
    let mut t = w.clone();
    t.tick = t.tick.next();
    assert_ne!(t.hash(), base, "tick");
    let mut r = w.clone();
    r.rng.next_u64();
    assert_ne!(r.hash(), base, "generator state");
    let mut c = w.clone();
    c.config.max_hp += 1;
    assert_ne!(c.hash(), base, "config");
    let mut n = w.clone();
    let id = spawn::add_player(&mut n, "c");
    n.despawn(id);
    assert_eq!(n.entities.len(), w.entities.len());
    assert_ne!(n.hash(), base, "next network id (and the slot's version)");
}

#[test]
fn the_hash_is_the_same_for_equal_worlds_and_a_replay() {
    let a = busy_world();
    let b = busy_world();
    assert_eq!(a.hash(), b.hash());
    assert_eq!(a.clone().hash(), a.hash());
}
