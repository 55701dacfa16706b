//! A running `tollgate serve` and the commands run beside it, for the test
//! files that start the real binary (`serve.rs`, `client_against_serve.rs`).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common;

/// How long a server may take to print its address.
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(60);

pub(crate) fn tollgate(dir: &Path, args: &[&str]) -> Output {
    let output = common::tollgate_command()
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("the tollgate binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("panicked"),
        "tollgate {args:?} panicked:\n{stderr}"
    );
    output
}

/// The last line of a successful command's stdout.
pub(crate) fn last_line(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .last()
        .unwrap_or("")
        .trim()
        .to_owned()
}

/// A running `tollgate serve`, stopped when dropped.
pub(crate) struct Server {
    pub(crate) child: Child,
    /// `http://127.0.0.1:PORT`.
    pub(crate) base: String,
    /// The demo key, when this start created it.
    pub(crate) key: Option<String>,
    /// Everything printed before the address.
    pub(crate) banner: String,
    pub(crate) lines: mpsc::Receiver<String>,
    pub(crate) stderr: PathBuf,
    /// `sqlite://…/tollgate.db` in the data directory.
    pub(crate) database: String,
}

impl Server {
    /// Starts the server on a free loopback port with `dir` as its working
    /// and data directory.
    pub(crate) fn start(dir: &Path, args: &[&str]) -> Server {
        let mut all = vec!["--data-dir", dir.to_str().unwrap()];
        all.extend_from_slice(args);
        let database = format!("sqlite://{}", dir.join("tollgate.db").display());
        Server::spawn(dir, &all, database)
    }

    /// Starts the server with a config file (which names the data directory).
    pub(crate) fn start_with_config(dir: &Path, config: &str, args: &[&str]) -> Server {
        let mut all = vec!["--config", config];
        all.extend_from_slice(args);
        Server::spawn(dir, &all, String::new())
    }

    pub(crate) fn spawn(dir: &Path, args: &[&str], database: String) -> Server {
        Server::spawn_with_env(dir, args, &[], database)
    }

    /// [`Server::spawn`] with these environment variables set.
    pub(crate) fn spawn_with_env(
        dir: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        database: String,
    ) -> Server {
        let stderr = dir.join(format!("serve-{}.stderr", uuid::Uuid::now_v7().simple()));
        let mut child = common::tollgate_command()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .envs(env.iter().copied())
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(&stderr).unwrap())
            .spawn()
            .expect("the tollgate binary starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        let mut banner = String::new();
        let base = loop {
            match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix("listening on ") {
                        break rest.split_whitespace().next().unwrap().to_owned();
                    }
                    banner.push_str(&line);
                    banner.push('\n');
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "serve {args:?} printed no address:\n{banner}\nstderr:\n{}",
                        std::fs::read_to_string(&stderr).unwrap_or_default()
                    );
                }
            }
        };
        let key = banner.lines().find_map(|l| {
            l.trim()
                .strip_prefix("export KEY=")
                .filter(|k| k.starts_with("tg_"))
                .map(str::to_owned)
        });
        Server {
            child,
            base,
            key,
            banner,
            lines,
            stderr,
            database,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Ctrl-C, then waits (bounded) for the exit; the status and what the
    /// server printed after its address.
    pub(crate) fn interrupt(mut self) -> (ExitStatus, String) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-INT", &pid]).status().unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "serve did not stop after Ctrl-C");
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut rest = String::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            rest.push_str(&line);
            rest.push('\n');
        }
        (status, rest)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
