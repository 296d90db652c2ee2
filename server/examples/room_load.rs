//! The room's own work at a scale the bot process cannot drive over sockets: N players
//! joined through in-memory connections (`GameSocket::memory`), each sending one input per tick
//! as the benchmark's bots do (a new random direction every 0.5-1.5 s, random aim) and
//! acknowledging the snapshot of one or two ticks ago (a client whose input left before
//! the last snapshot arrived acknowledges the one before; `--max-ack-age` spreads that
//! wider). `Room::tick` runs back to back; tick work is its time minus the time spent
//! handing frames to and reading messages from the in-memory connections (the same split
//! as the server's `/stats`, where those are socket writes and reads; here the "reads" are
//! the decoding, rate limits and input queues, printed beside). No shooting, so no
//! projectiles or events. A few probe clients decode every snapshot and check their
//! replica against the server's state hash; a desync fails the run.
//!
//! The room is the server binary's (the default mode of `tickwire_server::rooms::Modes` with its default
//! configuration, with the flags below), on the map the socket benchmark uses (`--map`),
//! rate limits aside. Run through `cargo xtask bench open-world --n 10000 --in-process` (or
//! arena), which writes or picks that map; prints a table and one JSON line.

/// The server binary's allocator, so the figures are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Instant;

use clap::Parser;
use hdrhistogram::Histogram;
use tickwire_bots::brain::{decide, Behavior, Brain};
use tickwire_server::config::BaselineMode;
use tickwire_server::net::game_socket::{GameSocket, MemoryLink};
use tickwire_server::room::{NetLimits, Room, TickReport};
use tickwire_server::Config;
use tickwire_shared::input::{Buttons, InputMsg};
use tickwire_shared::protocol::{codec, ClientMsg, ServerMsg};
use tickwire_shared::{Replica, Tick};

#[derive(Parser, Debug)]
struct Args {
    /// arena (everything visible) or open-world (1600 x 900 views).
    #[arg(long, default_value = "open-world")]
    scenario: String,
    /// The map (the socket benchmark's: `cargo xtask bench` writes the open-world ones
    /// into target/bench).
    #[arg(long)]
    map: std::path::PathBuf,
    /// Players.
    #[arg(long, default_value_t = 10_000)]
    n: usize,
    /// Ticks run before measuring.
    #[arg(long, default_value_t = 150)]
    warmup: u32,
    /// Ticks measured.
    #[arg(long, default_value_t = 450)]
    ticks: u32,
    /// Clients that decode every snapshot and check their replica.
    #[arg(long, default_value_t = 10)]
    probes: usize,
    /// The server's `--baselines`: `sent` (the last snapshot each connection accepted; the
    /// acknowledgements below then only count for the too-slow rule) or `acked`.
    #[arg(long, value_enum, default_value_t = BaselineMode::Sent)]
    baselines: BaselineMode,
    /// Each client acknowledges the snapshot 1 to this many ticks old (fixed per client,
    /// spread evenly): 2 is what clients on loopback do (their input leaves just before
    /// or just after the last snapshot arrived); more is a crowd with varied round trips,
    /// so more baselines in use at once under `--baselines acked`.
    #[arg(long, default_value_t = 2)]
    max_ack_age: usize,
    /// The server's baseline step (`--baseline-step`, with `--baselines acked`):
    /// baselines are acknowledged ticks that are multiples of it.
    #[arg(long, default_value_t = 1)]
    baseline_step: u32,
    /// Seed of the world and of the clients.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also write one line per measured tick to this file: the tick's number, then its
    /// work, step, record and frames time in microseconds (to see where slow ticks come
    /// from: this machine's neighbours slow whole stretches of ticks).
    #[arg(long)]
    trace: Option<std::path::PathBuf>,
}

struct Client {
    link: MemoryLink,
    brain: Brain,
    /// Acknowledges the snapshot `lag` ticks old.
    lag: usize,
    /// Newest snapshot ticks received, newest last.
    received: Vec<Tick>,
    seq: u32,
    replica: Option<Replica>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut config = Config::default();
    match args.scenario.as_str() {
        "arena" => {}
        "open-world" => (config.view_width, config.view_height) = (Some(1600.0), Some(900.0)),
        other => anyhow::bail!("unknown scenario {other:?}: arena or open-world"),
    }
    config.map = Some(args.map.clone());
    config.max_players = Some(args.n);
    config.seed = args.seed;
    config.baselines = args.baselines;
    config.baseline_step = args.baseline_step;
    config.validate()?;
    let modes = tickwire_server::rooms::Modes::load(&config)?;
    let mode = modes.default_mode();
    let mut settings = mode.settings.clone();
    // Ticks run back to back here, faster than real time: no rate limit.
    settings.net = NetLimits {
        max_msgs_per_s: f64::MAX,
        msg_burst: f64::MAX,
        ..settings.net
    };
    let hz = settings.sim.tick_hz;
    let mut room = Room::new(settings, mode.map.clone()).0;
    let mut endings = Vec::new();
    let probe_every = (args.n / args.probes.max(1)).max(1);
    let mut clients: Vec<Client> = (0..args.n)
        .map(|i| {
            let (conn, link) = GameSocket::memory();
            let (ended_tx, ended) = tokio::sync::oneshot::channel();
            endings.push(ended);
            room.join_now(&format!("bot{i}"), conn, ended_tx)
                .map_err(|e| anyhow::anyhow!("join {i}: {e:?}"))?;
            let welcome = link.take_messages().remove(0);
            let probe = args.probes > 0 && i % probe_every == 0;
            let replica = match codec::decode_server(&welcome)? {
                ServerMsg::Welcome(w) if probe => Some(Replica::from_welcome(&w)),
                _ => None,
            };
            let seed = args.seed.wrapping_mul(1_000_003).wrapping_add(i as u64);
            Ok(Client {
                link,
                brain: Brain::new(Behavior::Arena, seed, hz),
                lag: 1 + i % args.max_ack_age.max(1),
                received: Vec::new(),
                seq: 0,
                replica,
            })
        })
        .collect::<anyhow::Result<_>>()?;

    let hist = || Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
    let (mut work, mut recv, mut send) = (hist(), hist(), hist());
    let mut with_reads = hist();
    let (mut step, mut record, mut prepare) = (hist(), hist(), hist());
    // `World::hash` of the state after each measured tick (what a determinism check or a
    // replay verifier pays per tick; not part of the room's tick).
    let mut world_hash = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("bounds");
    let mut hash_sink = 0u64;
    let (mut bytes, mut bodies, mut frames, mut full, mut applied, mut desyncs) =
        (0usize, 0usize, 0usize, 0usize, 0usize, 0usize);
    let mut trace = match &args.trace {
        Some(path) => Some(std::io::BufWriter::new(std::fs::File::create(path)?)),
        None => None,
    };
    let started = Instant::now();
    for n in 0..args.warmup + args.ticks {
        let now = room.world().tick;
        for c in &mut clients {
            let input = decide(&mut c.brain, None);
            let ack = c.received.iter().rev().nth(c.lag - 1).copied();
            c.seq += 1;
            let msg = InputMsg {
                seq: c.seq,
                tick: now,
                ack,
                buttons: Buttons::default(),
                move_x: input.move_x,
                move_y: input.move_y,
                aim: input.aim,
            };
            c.link.push(codec::encode_client(&ClientMsg::Input(msg)));
        }
        let t0 = Instant::now();
        let report = if n < args.warmup {
            room.tick()
        } else {
            measured_tick(&mut room)
        };
        let total = t0.elapsed();
        let tick = room.world().tick;
        for c in &mut clients {
            for frame in c.link.take_messages() {
                if let Some(replica) = &mut c.replica {
                    let ok = match codec::decode_server(&frame) {
                        Ok(ServerMsg::Snapshot(s)) => replica.apply(&s).is_ok(),
                        _ => false,
                    };
                    applied += 1;
                    desyncs += usize::from(!ok);
                }
                c.received.push(tick);
            }
            if c.received.len() > args.max_ack_age.max(1) + 1 {
                c.received.remove(0);
            }
        }
        if n >= args.warmup {
            let h0 = Instant::now();
            hash_sink ^= std::hint::black_box(room.world()).hash();
            world_hash.record((h0.elapsed().as_nanos() as u64).max(1))?;
            let io = report.send_time + report.recv_time;
            let us = |d: std::time::Duration| (d.as_micros() as u64).max(1);
            let (tick_us, step_us, record_us, frames_us) = (
                us(total.saturating_sub(io)),
                us(report.step_time),
                us(report.record_time),
                us(report.frames_time),
            );
            if let Some(out) = &mut trace {
                use std::io::Write;
                writeln!(
                    out,
                    "{} {tick_us} {step_us} {record_us} {frames_us}",
                    tick.0
                )?;
            }
            work.record(tick_us)?;
            with_reads.record(us(total.saturating_sub(report.send_time)))?;
            recv.record(us(report.recv_time))?;
            send.record(us(report.send_time))?;
            step.record(step_us)?;
            record.record(record_us)?;
            prepare.record(frames_us)?;
            bytes += report.bytes_sent;
            bodies += report.bodies_encoded;
            frames += report.frames_sent;
            full += report.full_snapshots;
        }
    }
    if let Some(out) = &mut trace {
        std::io::Write::flush(out)?;
    }
    let ended = endings
        .iter_mut()
        .map(|e| e.try_recv().is_ok())
        .filter(|&x| x)
        .count();
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let ticks = f64::from(args.ticks);
    let per_client_s = bytes as f64 / ticks / args.n as f64 * f64::from(hz);
    println!(
        "{}-{} in process, {} ticks measured ({:.1} s wall)",
        args.scenario,
        args.n,
        args.ticks,
        started.elapsed().as_secs_f64()
    );
    println!(
        "tick work ms  p50 {:.2}  p99 {:.2}  max {:.2}   ({:.2} us per player-tick at p50)",
        ms(&work, 0.5),
        ms(&work, 0.99),
        work.max() as f64 / 1000.0,
        ms(&work, 0.5) * 1000.0 / args.n as f64
    );
    println!(
        "  with reads  p50 {:.2}  p99 {:.2}  (+ decoding, rate limits, input queues: what the socket server counts as reads)",
        ms(&with_reads, 0.5),
        ms(&with_reads, 0.99)
    );
    println!(
        "  of which    step p50 {:.2}  record p50 {:.2}  frames p50 {:.2}",
        ms(&step, 0.5),
        ms(&record, 0.5),
        ms(&prepare, 0.5)
    );
    println!(
        "world hash us p50 {:.1}  p99 {:.1}  (World::hash of the state, once a tick; xor {hash_sink:x})",
        world_hash.value_at_quantile(0.5) as f64 / 1000.0,
        world_hash.value_at_quantile(0.99) as f64 / 1000.0
    );
    println!(
        "hand-over ms  recv p50 {:.2}  send p50 {:.2}",
        ms(&recv, 0.5),
        ms(&send, 0.5)
    );
    println!(
        "bodies and chunks encoded per tick {:.0}, frames per tick {:.0}, full {}, {:.0} B/s per client; probes applied {applied}, desyncs {desyncs}, clients ended {ended}",
        bodies as f64 / ticks,
        frames as f64 / ticks,
        full,
        per_client_s
    );
    let q = |h: &Histogram<u64>| serde_json::json!({"p50": ms(h, 0.5), "p99": ms(h, 0.99), "max": h.max() as f64 / 1000.0});
    println!(
        "JSON {}",
        serde_json::json!({
            "scenario": format!("{}-{}", args.scenario, args.n),
            "n": args.n,
            "in_process": true,
            "ticks": args.ticks,
            "tick_work_ms": q(&work),
            "recv_ms": q(&recv),
            "send_ms": q(&send),
            "step_ms": q(&step),
            "record_ms": q(&record),
            "frames_ms": q(&prepare),
            "world_hash_us": {"p50": world_hash.value_at_quantile(0.5) as f64 / 1000.0, "p99": world_hash.value_at_quantile(0.99) as f64 / 1000.0},
            "baselines": format!("{:?}", args.baselines).to_lowercase(),
            "max_ack_age": args.max_ack_age,
            "baseline_step": args.baseline_step,
            "tick_work_with_reads_ms": q(&with_reads),
            "bodies_and_chunks_per_tick": bodies as f64 / ticks,
            "frames_per_tick": frames as f64 / ticks,
            "full_snapshots": full,
            "bytes_down_per_client_per_s": per_client_s.round(),
            "probe_snapshots": applied,
            "desyncs": desyncs,
            "clients_ended": ended,
        })
    );
    if desyncs > 0 || ended > 0 {
        anyhow::bail!("{desyncs} desyncs, {ended} clients ended: the run is not valid");
    }
    Ok(())
}

/// A measured tick: a function of its own so that a profiler can count only these
/// (`valgrind --tool=callgrind --toggle-collect='*measured_tick*'`).
#[inline(never)]
fn measured_tick(room: &mut Room) -> TickReport {
    room.tick()
}
