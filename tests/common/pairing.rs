//! The offer/answer choreography every pairing test plays, written once:
//! the offerer starts and saves its code, the answerer reads that code and
//! saves its own, the offerer reads the answer, both run to the end. A test
//! says only what differs (its flags, its inputs, a network namespace, an
//! environment variable) and asserts on what came out.

use super::{Run, Sandbox};
use std::process::{Child, Command};
use std::time::Duration;

pub const OFFER: &str = "offer.png";
pub const ANSWER: &str = "answer.png";

#[derive(Clone, Default)]
struct Side {
    tag: &'static str,
    args: Vec<String>,
    /// `None`: a stdin the test keeps open (no EOF) while it holds the child.
    input: Option<Vec<u8>>,
    prefix: Option<Vec<String>>,
    env: Vec<(String, String)>,
}

pub struct Pairing<'a> {
    sb: &'a Sandbox,
    sides: [Side; 2],
    /// Where the offerer reads the answer (`--answer`); the answerer
    /// always saves it as `ANSWER`.
    answer_from: String,
    limit: Duration,
}

/// Both sides started; the answerer may still be reading the offer.
pub struct Started<'a> {
    sb: &'a Sandbox,
    tags: [&'static str; 2],
    pub offerer: Child,
    pub answerer: Child,
    /// From starting the offerer to its code being saved.
    pub offer_ready: Duration,
    limit: Duration,
}

impl<'a> Pairing<'a> {
    /// `qrpair offer --qr-out offer.png --answer answer.png` and `qrpair
    /// answer offer.png --qr-out answer.png`, tagged "offerer" and
    /// "answerer", with empty stdin, within a minute each.
    pub fn new(sb: &'a Sandbox) -> Self {
        let side = |tag| Side { tag, input: Some(Vec::new()), ..Side::default() };
        Pairing {
            sb,
            sides: [side("offerer"), side("answerer")],
            answer_from: ANSWER.into(),
            limit: Duration::from_secs(60),
        }
    }

    /// The names the sides' output files and failure messages go under
    /// (`sender`, `receiver`).
    pub fn tags(mut self, offerer: &'static str, answerer: &'static str) -> Self {
        self.sides[0].tag = offerer;
        self.sides[1].tag = answerer;
        self
    }

    pub fn both(self, args: &[&str]) -> Self {
        self.offerer(args).answerer(args)
    }

    pub fn offerer(mut self, args: &[&str]) -> Self {
        self.sides[0].args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    pub fn answerer(mut self, args: &[&str]) -> Self {
        self.sides[1].args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    pub fn inputs(mut self, offerer: &[u8], answerer: &[u8]) -> Self {
        self.sides[0].input = Some(offerer.to_vec());
        self.sides[1].input = Some(answerer.to_vec());
        self
    }

    /// Standard input stays open on both sides (a person who has not
    /// finished typing) until the test drops or kills the children.
    pub fn stdin_open(mut self) -> Self {
        self.sides[0].input = None;
        self.sides[1].input = None;
        self
    }

    /// Each side run through its prefix (`ip netns exec NS`).
    pub fn through(self, offerer: &[&str], answerer: &[&str]) -> Self {
        self.prefixes([Some(offerer), Some(answerer)])
    }

    /// As `through`, where either side may run directly.
    pub fn prefixes(mut self, prefixes: [Option<&[&str]>; 2]) -> Self {
        for (side, prefix) in self.sides.iter_mut().zip(prefixes) {
            side.prefix = prefix.map(|p| p.iter().map(|a| a.to_string()).collect());
        }
        self
    }

    pub fn env_offerer(mut self, key: &str, value: &str) -> Self {
        self.sides[0].env.push((key.into(), value.into()));
        self
    }

    pub fn env_both(mut self, key: &str, value: &str) -> Self {
        for side in &mut self.sides {
            side.env.push((key.into(), value.into()));
        }
        self
    }

    /// The offerer waits for the answer at `path` (a person carries it
    /// there later) instead of where the answerer saves it.
    pub fn answer_from(mut self, path: &str) -> Self {
        self.answer_from = path.into();
        self
    }

    pub fn limit(mut self, limit: Duration) -> Self {
        self.limit = limit;
        self
    }

    fn command(&self, side: usize) -> Command {
        let (own, base): (&Side, Vec<&str>) = match side {
            0 => (&self.sides[0], vec!["offer", "--qr-out", OFFER, "--answer", &self.answer_from]),
            _ => (&self.sides[1], vec!["answer", OFFER, "--qr-out", ANSWER]),
        };
        let args: Vec<&str> = base.into_iter().chain(own.args.iter().map(String::as_str)).collect();
        let prefix: Option<Vec<&str>> = own.prefix.as_ref().map(|p| p.iter().map(String::as_str).collect());
        let mut cmd = self.sb.cmd_with(prefix.as_deref(), &args);
        for (k, v) in &own.env {
            cmd.env(k, v);
        }
        cmd
    }

    fn spawn(&self, side: usize) -> Child {
        let own = &self.sides[side];
        match &own.input {
            Some(input) => self.sb.spawn(self.command(side), input, own.tag),
            None => self.sb.spawn_open_stdin(self.command(side), own.tag),
        }
    }

    /// Starts the offerer, waits for its code, starts the answerer.
    pub fn start(self) -> Started<'a> {
        let _ = std::fs::remove_file(self.sb.path(OFFER));
        let _ = std::fs::remove_file(self.sb.path(ANSWER));
        let started = std::time::Instant::now();
        let offerer = self.spawn(0);
        self.sb.wait_for_file(OFFER, self.limit);
        let offer_ready = started.elapsed();
        let answerer = self.spawn(1);
        let tags = [self.sides[0].tag, self.sides[1].tag];
        Started { sb: self.sb, tags, offerer, answerer, offer_ready, limit: self.limit }
    }

    /// Both sides to the end: (offerer, answerer).
    pub fn run(self) -> (Run, Run) {
        self.start().finish()
    }

    /// Both sides to the end, each exiting 0: (offerer, answerer).
    pub fn succeed(self) -> (Run, Run) {
        let (off, ans) = self.run();
        assert_eq!((off.code(), ans.code()), (0, 0), "offerer:\n{}\nanswerer:\n{}", off.stderr, ans.stderr);
        (off, ans)
    }
}

impl Started<'_> {
    /// Waits for the answerer to save its code (the moment the answer is
    /// "applied" for a person who carries it at once).
    pub fn answer_saved(&self) -> std::path::PathBuf {
        self.sb.wait_for_file(ANSWER, self.limit)
    }

    /// The answerer first (it ends once the offerer has its answer), then
    /// the offerer: (offerer, answerer).
    pub fn finish(self) -> (Run, Run) {
        let ans = self.sb.finish(self.answerer, self.tags[1], self.limit);
        let off = self.sb.finish(self.offerer, self.tags[0], self.limit);
        (off, ans)
    }
}
