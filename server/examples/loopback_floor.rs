//! The kernel's floor under a benchmark scenario: what N TCP connections on 127.0.0.1 cost
//! a server that does nothing but the socket work of a tick, with no game, no WebSocket
//! and no tokio on its side.
//!
//! The server (this process, pinned to CPU 0 by `cargo xtask bench ... --floor`) accepts N
//! connections and then, 30 times a second on an absolute schedule, does what the room's
//! tick does with its sockets: one non-blocking read of up to 4 KB from each socket, then
//! one write of a `--bytes` message to each (what is not taken waits and goes first next
//! tick). Each message carries the tick and the newest input sequence read from that
//! client, like a snapshot header. The clients (a child process of this binary, pinned to
//! CPU 1, on one tokio thread like the bots) send a 32-byte input 30 times a second each on
//! an absolute schedule with a random phase, read every message and time each input until
//! a message first acknowledges it: the input round trip of the benchmark doc with a
//! server that costs nothing but its system calls.
//!
//! Prints a table and one JSON line: the server's CPU (the run time of the thread that does
//! all its work: what the utime + stime the benchmark reads of a server add up to), per
//! player-tick, the read and write phases of a tick, and the
//! round trips. Bounded: warm-up plus window ticks, then the connections close and the
//! clients end by themselves.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use hdrhistogram::Histogram;

#[derive(Parser, Debug)]
struct Args {
    /// Connections (players).
    #[arg(long, default_value_t = 500)]
    n: usize,
    /// Bytes of each message to each client per tick (arena-500's snapshots: about 480).
    #[arg(long, default_value_t = 480)]
    bytes: usize,
    /// Ticks per second.
    #[arg(long, default_value_t = 30)]
    hz: u32,
    /// Seconds before measuring.
    #[arg(long, default_value_t = 5)]
    warmup: u64,
    /// Seconds measured.
    #[arg(long, default_value_t = 15)]
    window: u64,
    /// Seed of the clients' phases.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// CPU for the clients' process (`taskset -c`; empty: not pinned).
    #[arg(long, default_value = "1")]
    clients_cpu: String,
    /// Internal: run as the clients, connecting to this address.
    #[arg(long, hide = true)]
    clients: Option<String>,
}

/// Bytes of one input.
const INPUT: usize = 32;

fn main() -> Result<()> {
    let args = Args::parse();
    match &args.clients {
        Some(addr) => clients(&args, addr),
        None => server(&args),
    }
}

/// One client connection on the server's side.
struct Peer {
    sock: TcpStream,
    /// Bytes of an input not complete yet.
    partial: Vec<u8>,
    /// The newest input sequence read.
    last_seq: u64,
    /// What the socket did not take yet, this tick's message behind it (empty between ticks
    /// while the socket keeps up).
    backlog: Vec<u8>,
}

fn server(args: &Args) -> Result<()> {
    if args.bytes < 16 {
        bail!("--bytes must be at least 16 (tick and acknowledged sequence)");
    }
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let exe = std::env::current_exe()?;
    let mut cmd = if args.clients_cpu.is_empty() {
        Command::new(&exe)
    } else {
        let mut c = Command::new("taskset");
        c.args(["-c", &args.clients_cpu]).arg(&exe);
        c
    };
    cmd.args(["--clients", &addr.to_string()])
        .args(["--n", &args.n.to_string()])
        .args(["--bytes", &args.bytes.to_string()])
        .args(["--hz", &args.hz.to_string()])
        .args(["--warmup", &args.warmup.to_string()])
        .args(["--window", &args.window.to_string()])
        .args(["--seed", &args.seed.to_string()])
        .stdout(Stdio::piped());
    let mut child = cmd.spawn().context("starting the clients")?;
    let result = serve(args, &listener);
    // The clients end when their connections close (dropped by `serve`), or by their own
    // deadline; killed only if they outlive both.
    let out = wait_output(&mut child, Duration::from_secs(30));
    let stats = result?;
    let clients_json = out?
        .lines()
        .find_map(|l| l.strip_prefix("CLIENTS ").map(str::to_owned))
        .context("the clients printed no figures")?;
    let c: serde_json::Value = serde_json::from_str(&clients_json)?;
    let players_ticks = (args.n as u64 * stats.ticks) as f64;
    let cpu_pct = 100.0 * stats.cpu_s / stats.wall_s;
    let per_player_tick_us = stats.cpu_s * 1e6 / players_ticks;
    println!(
        "loopback floor: {} connections, {} B per message, {} Hz, {} s window ({} ticks)",
        args.n, args.bytes, args.hz, args.window, stats.ticks
    );
    println!("server CPU {cpu_pct:.1} % of one core ({per_player_tick_us:.2} us per player-tick)");
    let p = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "read phase ms  p50 {:.2}  p99 {:.2}   write phase ms  p50 {:.2}  p99 {:.2}   tick interval ms  p99 {:.2}",
        p(&stats.read, 0.5),
        p(&stats.read, 0.99),
        p(&stats.write, 0.5),
        p(&stats.write, 0.99),
        p(&stats.interval, 0.99),
    );
    println!(
        "input RTT ms  p50 {}  p99 {}  ({} inputs acknowledged; clients' CPU {} %); partial writes {}, errors {}",
        c["rtt_ms"]["p50"], c["rtt_ms"]["p99"], c["acked"], c["cpu_pct"], stats.partial, stats.errors
    );
    let json = serde_json::json!({
        "scenario": format!("loopback-floor-{}", args.n),
        "n": args.n,
        "bytes_per_message": args.bytes,
        "tick_hz": args.hz,
        "window_s": args.window,
        "ticks": stats.ticks,
        "server_cpu_pct": cpu_pct,
        "server_us_per_player_tick": per_player_tick_us,
        "read_phase_ms": {"p50": p(&stats.read, 0.5), "p99": p(&stats.read, 0.99)},
        "write_phase_ms": {"p50": p(&stats.write, 0.5), "p99": p(&stats.write, 0.99)},
        "tick_interval_ms": {"p50": p(&stats.interval, 0.5), "p99": p(&stats.interval, 0.99)},
        "rtt_ms": c["rtt_ms"],
        "clients_cpu_pct": c["cpu_pct"],
        "inputs_acked": c["acked"],
        "partial_writes": stats.partial,
        "errors": stats.errors,
    });
    println!("JSON {json}");
    Ok(())
}

/// What the server measured over the window.
struct Stats {
    ticks: u64,
    cpu_s: f64,
    wall_s: f64,
    read: Histogram<u64>,
    write: Histogram<u64>,
    interval: Histogram<u64>,
    partial: u64,
    errors: u64,
}

fn serve(args: &Args, listener: &TcpListener) -> Result<Stats> {
    // Every client connects within a bounded time.
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut peers = Vec::with_capacity(args.n);
    while peers.len() < args.n {
        match listener.accept() {
            Ok((sock, _)) => {
                sock.set_nonblocking(true)?;
                sock.set_nodelay(true)?;
                peers.push(Peer {
                    sock,
                    partial: Vec::with_capacity(INPUT),
                    last_seq: 0,
                    backlog: Vec::with_capacity(args.bytes),
                });
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if Instant::now() > deadline {
                    bail!("only {} of {} clients connected", peers.len(), args.n);
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => return Err(e.into()),
        }
    }
    let period = Duration::from_secs(1) / args.hz;
    let warm = args.warmup * u64::from(args.hz);
    let total = warm + args.window * u64::from(args.hz);
    let hist = || Histogram::<u64>::new_with_bounds(1, 10_000_000, 3);
    let (mut read_h, mut write_h, mut interval_h) = (hist()?, hist()?, hist()?);
    let (mut partial, mut errors) = (0u64, 0u64);
    let mut buf = vec![0u8; 4096];
    let mut msg = vec![0u8; args.bytes];
    let start = Instant::now();
    let (mut cpu0, mut wall0) = (0.0, start);
    let mut last_start: Option<Instant> = None;
    for tick in 0..total {
        let due = start + period * tick as u32;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let began = Instant::now();
        if tick == warm {
            cpu0 = cpu_seconds()?;
            wall0 = began;
        }
        let measured = tick >= warm;
        if let (Some(prev), true) = (last_start, measured) {
            interval_h.saturating_record((began - prev).as_micros() as u64);
        }
        last_start = Some(began);
        // Reads: one call per socket, as the room does.
        for p in &mut peers {
            match p.sock.read(&mut buf) {
                Ok(0) => errors += 1,
                Ok(n) => {
                    // The newest whole input counts; an incomplete one waits for its rest.
                    p.partial.extend_from_slice(&buf[..n]);
                    let whole = p.partial.len() / INPUT * INPUT;
                    if whole > 0 {
                        let last = &p.partial[whole - INPUT..whole];
                        p.last_seq = u64::from_le_bytes(last[..8].try_into()?);
                        p.partial.drain(..whole);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => errors += 1,
            }
        }
        let read_done = Instant::now();
        // Writes: one call per socket (the backlog first, when one waits).
        msg[..8].copy_from_slice(&tick.to_le_bytes());
        for p in &mut peers {
            msg[8..16].copy_from_slice(&p.last_seq.to_le_bytes());
            // What waits goes first, with this message behind it.
            p.backlog.extend_from_slice(&msg);
            match p.sock.write(&p.backlog) {
                Ok(n) => {
                    p.backlog.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => errors += 1,
            }
            if !p.backlog.is_empty() {
                partial += 1;
            }
            // Bounded: a client that stops reading loses messages, never memory.
            if p.backlog.len() > 64 * args.bytes {
                p.backlog.clear();
                errors += 1;
            }
        }
        if measured {
            read_h.saturating_record((read_done - began).as_micros() as u64);
            write_h.saturating_record(read_done.elapsed().as_micros() as u64);
        }
    }
    let cpu_s = cpu_seconds()? - cpu0;
    let wall_s = wall0.elapsed().as_secs_f64();
    Ok(Stats {
        ticks: total - warm,
        cpu_s,
        wall_s,
        read: read_h,
        write: write_h,
        interval: interval_h,
        partial,
        errors,
    })
}

/// CPU time of this process's main thread, where all its work runs, in seconds: the run time
/// the kernel accounts to it (`/proc/self/schedstat`, nanoseconds), which the utime + stime
/// the benchmark reads of a server are scaled to.
fn cpu_seconds() -> Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/schedstat")?;
    let ns: u64 = stat
        .split_whitespace()
        .next()
        .context("empty /proc/self/schedstat")?
        .parse()?;
    Ok(ns as f64 / 1e9)
}

/// The child's stdout once it exits; killed (by its PID, through the handle) past
/// `limit`.
fn wait_output(child: &mut std::process::Child, limit: Duration) -> Result<String> {
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait()?.is_some() {
            break;
        }
        if Instant::now() > deadline {
            child.kill()?;
            child.wait()?;
            bail!("the clients did not end");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut out = String::new();
    if let Some(mut s) = child.stdout.take() {
        s.read_to_string(&mut out)?;
    }
    Ok(out)
}

/// The clients: N connections on one tokio thread, each sending an input 30 times a
/// second and timing its acknowledgement.
fn clients(args: &Args, addr: &str) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut conns = Vec::with_capacity(args.n);
        for _ in 0..args.n {
            let s = tokio::net::TcpStream::connect(addr).await?;
            s.set_nodelay(true)?;
            conns.push(s);
        }
        let period = Duration::from_secs(1) / args.hz;
        let start = tokio::time::Instant::now() + Duration::from_millis(200);
        let window_start = start + Duration::from_secs(args.warmup);
        let window_end = window_start + Duration::from_secs(args.window);
        let stop = window_end + Duration::from_secs(10);
        let rtts = Arc::new(parking_lot::Mutex::new(Histogram::<u64>::new_with_bounds(
            1, 60_000_000, 3,
        )?));
        let mut rng = args.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut tasks = tokio::task::JoinSet::new();
        for s in conns {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let phase = period.mul_f64((rng % 10_000) as f64 / 10_000.0);
            let (mut rd, mut wr) = s.into_split();
            let sent = Arc::new(parking_lot::Mutex::new(VecDeque::<(u64, Instant)>::new()));
            let sent_w = sent.clone();
            tasks.spawn(async move {
                let mut every = tokio::time::interval_at(start + phase, period);
                let mut input = [0u8; INPUT];
                for seq in 1u64.. {
                    let at = every.tick().await;
                    if at >= stop {
                        break;
                    }
                    input[..8].copy_from_slice(&seq.to_le_bytes());
                    {
                        let mut q = sent_w.lock();
                        q.push_back((seq, Instant::now()));
                        if q.len() > 256 {
                            q.pop_front();
                        }
                    }
                    if wr.write_all(&input).await.is_err() {
                        break;
                    }
                }
            });
            let rtts = rtts.clone();
            let bytes = args.bytes;
            tasks.spawn(async move {
                let mut msg = vec![0u8; bytes];
                let mut acked = 0u64;
                loop {
                    let read = tokio::time::timeout_at(stop, rd.read_exact(&mut msg)).await;
                    let Ok(Ok(_)) = read else { break };
                    let ack = u64::from_le_bytes(msg[8..16].try_into().unwrap_or_default());
                    if ack <= acked {
                        continue;
                    }
                    acked = ack;
                    let now = tokio::time::Instant::now();
                    let measured = now >= window_start && now < window_end;
                    let mut q = sent.lock();
                    while let Some(&(seq, t0)) = q.front() {
                        if seq > ack {
                            break;
                        }
                        q.pop_front();
                        if measured {
                            rtts.lock()
                                .saturating_record(t0.elapsed().as_micros() as u64);
                        }
                    }
                }
            });
        }
        tokio::time::sleep_until(window_start).await;
        let c0 = cpu_seconds()?;
        tokio::time::sleep_until(window_end).await;
        let c1 = cpu_seconds()?;
        while tasks.join_next().await.is_some() {}
        let h = rtts.lock();
        let ms = |q: f64| (h.value_at_quantile(q) as f64 / 100.0).round() / 10.0;
        let json = serde_json::json!({
            "rtt_ms": {"p50": ms(0.5), "p99": ms(0.99)},
            "acked": h.len(),
            "cpu_pct": (1000.0 * (c1 - c0) / args.window as f64).round() / 10.0,
        });
        println!("CLIENTS {json}");
        anyhow::Ok(())
    })
}
