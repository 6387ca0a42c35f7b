//! A small harness in the manner of ripgrep's: each test gets its own
//! temporary folder, runs the real binary there, and asserts on exit codes,
//! output and files.
#![allow(dead_code)]

pub mod ipv6;
pub mod mtu;
pub mod nat;
pub mod netns;
pub mod pairing;
pub mod relay;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_qrpair")
}

pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

pub struct Run {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or(-1)
    }
}

impl Sandbox {
    pub fn new() -> Self {
        Sandbox { dir: tempfile::tempdir().unwrap() }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        self.cmd_with(None, args)
    }

    /// `prefix` runs the binary through another program (`ip netns exec NS`).
    pub fn cmd_with(&self, prefix: Option<&[&str]>, args: &[&str]) -> Command {
        let mut c = match prefix {
            Some(p) => {
                let mut c = Command::new(p[0]);
                c.args(&p[1..]).arg(bin());
                c
            }
            None => Command::new(bin()),
        };
        c.args(args).current_dir(self.dir.path()).env_remove("QRPAIR_LOG");
        detach_from_terminal(&mut c);
        c
    }

    /// Runs to completion with stdin from `input`, killing it after `limit`.
    pub fn run(&self, args: &[&str], input: &[u8], limit: Duration) -> Run {
        let child = self.spawn(self.cmd(args), input, "run");
        self.finish(child, "run", limit)
    }

    /// Starts a command with stdin from a file holding `input` and stdout and
    /// stderr into files named after `tag`.
    pub fn spawn(&self, mut cmd: Command, input: &[u8], tag: &str) -> Child {
        let stdin = self.write(&format!("{tag}.stdin"), input);
        cmd.stdin(File::open(stdin).unwrap())
            .stdout(File::create(self.path(&format!("{tag}.stdout"))).unwrap())
            .stderr(File::create(self.path(&format!("{tag}.stderr"))).unwrap());
        cmd.spawn().expect("qrpair starts")
    }

    /// Like `spawn`, but stdin is a pipe the test keeps open (no EOF) for as
    /// long as it holds the child.
    pub fn spawn_open_stdin(&self, mut cmd: Command, tag: &str) -> Child {
        cmd.stdin(Stdio::piped())
            .stdout(File::create(self.path(&format!("{tag}.stdout"))).unwrap())
            .stderr(File::create(self.path(&format!("{tag}.stderr"))).unwrap());
        cmd.spawn().expect("qrpair starts")
    }

    pub fn finish(&self, mut child: Child, tag: &str, limit: Duration) -> Run {
        let start = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if start.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{tag} did not finish within {limit:?}; stderr:\n{}", self.stderr(tag));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Run { status, stdout: std::fs::read(self.path(&format!("{tag}.stdout"))).unwrap(), stderr: self.stderr(tag) }
    }

    pub fn stderr(&self, tag: &str) -> String {
        std::fs::read_to_string(self.path(&format!("{tag}.stderr"))).unwrap_or_default()
    }

    /// Waits until `name` exists and stderr of `tag` contains `needle`.
    pub fn wait_for_file(&self, name: &str, limit: Duration) -> PathBuf {
        let p = self.path(name);
        let start = Instant::now();
        while !p.exists() {
            assert!(start.elapsed() < limit, "{name} did not appear within {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
        p
    }

    pub fn wait_for_stderr(&self, tag: &str, needle: &str, limit: Duration) -> String {
        let start = Instant::now();
        loop {
            let text = self.stderr(tag);
            if text.contains(needle) {
                return text;
            }
            assert!(start.elapsed() < limit, "{tag} never printed {needle:?}; stderr:\n{text}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The token printed on stderr after `token: `.
pub fn token_in(stderr: &str) -> String {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("token: "))
        .unwrap_or_else(|| panic!("no token in:\n{stderr}"))
        .trim()
        .to_string()
}

pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut v = vec![0u8; len];
    rng.fill_bytes(&mut v);
    v
}

pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(bytes))
}

/// Tests must not depend on the terminal of whoever runs them: without a
/// controlling terminal, qrpair cannot prompt and says so.
fn detach_from_terminal(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: setsid is async-signal-safe and touches only the child.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
}

pub fn assert_no_temp_files(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        assert!(!name.starts_with(".qrpair-"), "temporary file left behind: {name}");
    }
}

impl Sandbox {
    /// Runs to completion like `run`, and also returns the child's peak RSS
    /// in KiB (wait4), so a test can hold qrpair to a memory bound.
    pub fn run_measured(&self, args: &[&str], limit: Duration) -> (Run, i64) {
        self.run_measured_cmd(self.cmd(args), limit)
    }

    /// As `run_measured`, for a command with its own environment.
    pub fn run_measured_cmd(&self, cmd: Command, limit: Duration) -> (Run, i64) {
        let args: Vec<String> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        let child = self.spawn(cmd, b"", "measured");
        let pid = child.id() as libc::pid_t;
        let start = Instant::now();
        let (status, rss) = loop {
            let mut status = 0;
            // SAFETY: an all-zero rusage is a valid value to be overwritten.
            let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
            // SAFETY: wait4 on our own child with valid out-pointers.
            let done = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
            if done == pid {
                break (std::os::unix::process::ExitStatusExt::from_raw(status), usage.ru_maxrss);
            }
            if start.elapsed() > limit {
                // SAFETY: killing and reaping our own child.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                    libc::waitpid(pid, &mut status, 0);
                }
                panic!("qrpair {args:?} did not finish within {limit:?}; stderr:\n{}", self.stderr("measured"));
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        std::mem::forget(child);
        let run = Run {
            status,
            stdout: std::fs::read(self.path("measured.stdout")).unwrap_or_default(),
            stderr: self.stderr("measured"),
        };
        (run, rss)
    }
}

/// Starts Xvfb on a display it finds free itself (`-displayfd`), so two
/// test runs, or tests running side by side, never take the same display
/// (picking a number and waiting for its socket could find another
/// server's). Returns the server and its display number; `None` when Xvfb
/// is missing or did not start.
pub fn start_xvfb(geometry: &str) -> Option<(Child, u32)> {
    use std::io::BufRead;
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two descriptors we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return None;
    }
    // SAFETY: both descriptors were just made and are owned here.
    let (read_end, write_end) = unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) };
    let write_fd = fds[1];
    let mut command = Command::new("Xvfb");
    command
        .args(["-displayfd", &write_fd.to_string(), "-screen", "0", geometry, "-nolisten", "tcp"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // Only Xvfb inherits the write end, and only across its own exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, move || {
            if libc::fcntl(write_fd, libc::F_SETFD, 0) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = command.spawn().ok();
    drop(write_end);
    let mut child = child?;
    let mut line = String::new();
    let read = std::io::BufReader::new(read_end).read_line(&mut line);
    match (read, line.trim().parse::<u32>()) {
        (Ok(_), Ok(number)) => Some((child, number)),
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            None
        }
    }
}
