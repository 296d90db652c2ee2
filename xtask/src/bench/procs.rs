//! The processes of a benchmark run: started pinned and prioritised, their output read on
//! threads, stopped by PID (SIGTERM, then SIGKILL), and killed on any early exit.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use super::BenchArgs;

/// How the benchmarked processes are scheduled.
#[derive(Clone, Copy, Debug)]
pub enum Priority {
    Nice(i32),
    Realtime,
}

pub fn priority(args: &BenchArgs) -> Priority {
    if args.realtime {
        Priority::Realtime
    } else {
        Priority::Nice(args.nice)
    }
}

/// `taskset -c CPU nice -n NICE BIN` (or `chrt --rr 10` instead of nice): pinned, and ahead
/// of other work on a shared machine (taskset, nice and chrt exec the binary, so the PID is
/// the binary's; nice runs it anyway, at normal priority, where raising the priority is not
/// allowed). Unpinned where taskset is missing.
pub fn pinned(cpu: &str, priority: Priority, bin: &Path) -> Command {
    let has = |tool: &str| {
        Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let mut argv: Vec<std::ffi::OsString> = Vec::new();
    if has("taskset") {
        argv.extend(["taskset".into(), "-c".into(), cpu.into()]);
    } else {
        println!(
            "warning: taskset not found, {} runs unpinned",
            bin.display()
        );
    }
    match priority {
        Priority::Realtime => argv.extend(["chrt".into(), "--rr".into(), "10".into()]),
        Priority::Nice(n) if n != 0 && has("nice") => {
            argv.extend(["nice".into(), "-n".into(), n.to_string().into()]);
        }
        Priority::Nice(_) => {}
    }
    argv.push(bin.into());
    let mut c = Command::new(&argv[0]);
    c.args(&argv[1..]);
    c
}

/// The processes this run started; whatever is still running when it is dropped (an
/// error, a panic) is killed by PID.
#[derive(Default)]
pub struct Procs {
    children: Vec<(String, Child)>,
}

impl Procs {
    pub fn start(&mut self, name: &str, c: &mut Command) -> Result<u32> {
        let child = c.spawn().with_context(|| format!("cannot start {name}"))?;
        let pid = child.id();
        self.children.push((name.to_owned(), child));
        Ok(pid)
    }

    fn child(&mut self, pid: u32) -> Result<&mut Child> {
        self.children
            .iter_mut()
            .map(|(_, c)| c)
            .find(|c| c.id() == pid)
            .ok_or_else(|| anyhow!("no process {pid}"))
    }

    pub fn stdout(&mut self, pid: u32) -> Result<std::process::ChildStdout> {
        self.child(pid)?
            .stdout
            .take()
            .ok_or_else(|| anyhow!("stdout of {pid} not piped"))
    }

    pub fn running(&mut self, pid: u32) -> Result<bool> {
        Ok(self.child(pid)?.try_wait()?.is_none())
    }

    /// SIGKILL (a crash, `kill -9`), and waits for it.
    pub fn kill(&mut self, pid: u32) -> Result<()> {
        let c = self.child(pid)?;
        c.kill()?;
        c.wait()?;
        Ok(())
    }

    /// SIGTERM (a clean shutdown), then SIGKILL after 10 s.
    pub fn stop(&mut self, pid: u32) -> Result<()> {
        if !self.running(pid)? {
            return Ok(());
        }
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.running(pid)? {
            if Instant::now() > deadline {
                let c = self.child(pid)?;
                c.kill()?;
                c.wait()?;
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for (name, c) in &mut self.children {
            if matches!(c.try_wait(), Ok(None)) {
                eprintln!("stopping {name} (pid {})", c.id());
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// The lines of a child's output, read on a thread (so the child never blocks on a full
/// pipe).
pub fn lines_of(out: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                // Nobody listens any more: keep draining so the child is never blocked.
                continue;
            }
        }
    });
    rx
}

pub fn wait_line<T>(
    rx: &Receiver<String>,
    limit: Duration,
    mut pick: impl FnMut(&str) -> Option<T>,
) -> Result<T> {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(v) = pick(&line) {
                    return Ok(v);
                }
            }
            Err(RecvTimeoutError::Timeout) => bail!("timed out after {limit:?}"),
            Err(RecvTimeoutError::Disconnected) => bail!("the process exited"),
        }
    }
}

pub fn echo_bots(line: &str) -> &str {
    println!("  bots| {line}");
    line
}
