//! The `hypar` command as users run it: demo, chat through pipes, keygen,
//! and the errors they see.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const HYPAR: &str = env!("CARGO_BIN_EXE_hypar");
const LOOPBACK: &str = "/ip4/127.0.0.1/tcp/0";

/// Lines of a child's pipe, read on a thread so waits can time out.
fn lines(pipe: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// The first line matching `want`, within 30 s.
fn expect_line(rx: &mpsc::Receiver<String>, want: impl Fn(&str) -> bool, what: &str) -> String {
    loop {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) if want(&line) => return line,
            Ok(_) => {}
            Err(_) => panic!("no line with {what} within 30 s"),
        }
    }
}

#[test]
fn demo_with_a_small_swarm_delivers_everything() {
    let out = Command::new(HYPAR)
        .args(["demo", "--nodes", "8", "--messages", "20", "--json", "--no-plot"])
        .output()
        .expect("hypar runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(report["delivered"], 1.0, "{report}");
    assert_eq!(report["nodes"], 8);
    assert_eq!(report["messages"], 20);
    assert_eq!(report["duplicates"], 0);
    assert!(report["latency_ms_p50"].as_f64().unwrap() > 0.0);
    assert!(report["latency_ms_p99"].as_f64().unwrap() >= report["latency_ms_p50"].as_f64().unwrap());
}

#[test]
fn demo_heals_after_a_kill_and_writes_its_plot() {
    let dir = std::env::temp_dir().join(format!("hypar-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let plot = dir.join("plot.svg");
    let out = Command::new(HYPAR)
        .args(["demo", "--nodes", "12", "--messages", "20", "--kill", "0.5", "--json", "--plot"])
        .arg(&plot)
        .output()
        .expect("hypar runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["killed"], 6);
    assert_eq!(report["delivered_after_kill"], 1.0, "{report}");
    let svg = std::fs::read_to_string(&plot).expect("the plot was written");
    assert!(svg.starts_with("<svg") && svg.contains("Hops per delivery"));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn two_chats_exchange_lines_through_pipes() {
    let mut first = Command::new(HYPAR)
        .args(["chat", "--topic", "room", "--listen", LOOPBACK])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let first_err = lines(first.stderr.take().unwrap());
    let first_out = lines(first.stdout.take().unwrap());
    let addr = expect_line(&first_err, |l| l.contains("/p2p/"), "an address").trim().to_string();

    let mut second = Command::new(HYPAR)
        .args(["chat", "--topic", "room", "--listen", LOOPBACK, "--bootstrap", &addr])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let second_err = lines(second.stderr.take().unwrap());
    let second_out = lines(second.stdout.take().unwrap());
    expect_line(&second_err, |l| l.ends_with("joined"), "a neighbour");
    let mut second_in = second.stdin.take().unwrap();
    writeln!(second_in, "hello from the second").unwrap();
    expect_line(&first_out, |l| l == "hello from the second", "the second chat's line");
    let mut first_in = first.stdin.take().unwrap();
    writeln!(first_in, "hello from the first").unwrap();
    expect_line(&second_out, |l| l == "hello from the first", "the first chat's line");

    drop(second_in);
    drop(first_in);
    assert!(second.wait().unwrap().success());
    assert!(first.wait().unwrap().success());
}

#[test]
fn chat_with_a_bad_bootstrap_address_says_what_to_fix() {
    let out = Command::new(HYPAR)
        .args(["chat", "--topic", "room", "--bootstrap", "127.0.0.1:4001"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--bootstrap") && err.contains("127.0.0.1:4001") && err.contains("/ip4/"), "{err}");
}

#[test]
fn a_key_file_keeps_the_identity() {
    let dir = std::env::temp_dir().join(format!("hypar-key-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("id.key");
    let peer_id_of_chat = || {
        let out = Command::new(HYPAR)
            .args(["chat", "--topic", "t", "--listen", LOOPBACK, "--key"])
            .arg(&key)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        err.lines().find_map(|l| l.strip_prefix("peer id ").map(str::to_string)).expect("a peer id line")
    };
    let created = peer_id_of_chat();
    assert!(key.exists());
    assert_eq!(peer_id_of_chat(), created, "the identity changed between runs");

    let generated = dir.join("gen.key");
    let out = Command::new(HYPAR).args(["keygen", "--out"]).arg(&generated).output().unwrap();
    assert!(out.status.success());
    let again = Command::new(HYPAR).args(["keygen", "--out"]).arg(&generated).output().unwrap();
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("--force"));
    std::fs::write(&key, b"not a key").unwrap();
    let bad = Command::new(HYPAR).args(["chat", "--topic", "t", "--key"]).arg(&key).output().unwrap();
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("invalid keypair"));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn every_subcommand_has_help() {
    for sub in ["demo", "chat", "keygen", "sim", "bench", "throughput"] {
        let out = Command::new(HYPAR).args([sub, "--help"]).output().unwrap();
        assert!(out.status.success(), "{sub} --help failed");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage"), "{sub}");
    }
    let out = Command::new(HYPAR).args(["demo", "--kill", "1.5"]).output().unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("between 0 and 1"));
}
