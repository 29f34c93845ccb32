//! Opens a page in headless Chromium and reports what a reader would see: console errors,
//! uncaught exceptions, failed loads and policy violations (the DevTools `Runtime` and `Log`
//! domains), whether every image decoded, and a screenshot.
//!
//! Chromium is driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`: the
//! browser reads commands on fd 3 and writes replies on fd 4, each message a JSON text ended by
//! a NUL byte), so no port, websocket library or Python is needed.
//!
//! Which browser: `$SAESCALE_CHROMIUM`, else the first of `chromium`, `chromium-browser`,
//! `google-chrome` on PATH (Debian's package is `chromium`). With none, [`find`] returns
//! `None`, and the caller must skip loudly — unless `$SAESCALE_REQUIRE_CHROMIUM` is set (CI sets
//! it), in which case a missing browser is a failure.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The browser to use, or `None` (after checking `$SAESCALE_REQUIRE_CHROMIUM`).
///
/// # Panics
/// When no browser is found and `$SAESCALE_REQUIRE_CHROMIUM` is set.
pub fn find() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("SAESCALE_CHROMIUM").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|p| p.is_file());
    if found.is_none() {
        let required = std::env::var_os("SAESCALE_REQUIRE_CHROMIUM").is_some_and(|v| !v.is_empty());
        assert!(!required, "SAESCALE_REQUIRE_CHROMIUM is set but no chromium is on PATH (Debian: apt-get install -y chromium)");
        eprintln!();
        eprintln!("################################################################################");
        eprintln!("## SKIPPED: headless-browser check of the report page: no chromium on PATH.   ##");
        eprintln!("## Install it (Debian: apt-get install -y chromium) or set SAESCALE_CHROMIUM;  ##");
        eprintln!("## set SAESCALE_REQUIRE_CHROMIUM=1 to make this a failure (CI does).           ##");
        eprintln!("################################################################################");
        eprintln!();
    }
    found
}

/// What loading the page produced.
#[derive(Debug)]
pub struct PageVisit {
    /// Console errors, exceptions, failed loads and violations, as text.
    pub errors: Vec<String>,
    /// Number of `<img>` elements.
    pub images: u64,
    /// Number of them decoded with a non-zero size.
    pub images_decoded: u64,
    /// `document.title`.
    pub title: String,
    /// The page's visible text (`document.body.innerText`).
    pub text: String,
    /// A PNG screenshot of the top of the page (viewport `width × height`).
    pub screenshot: Vec<u8>,
}

struct Browser {
    child: Child,
    commands: std::fs::File,
    replies: Receiver<Value>,
    next_id: u64,
    /// Events seen while waiting for replies.
    events: Vec<Value>,
    _profile: tempfile::TempDir,
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: pipe2 succeeded, so both descriptors are open and owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

impl Browser {
    fn launch(binary: &Path, width: u32, height: u32) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let (command_read, command_write) = pipe();
        let (reply_read, reply_write) = pipe();
        let (child_in, child_out) = (command_read.as_raw_fd(), reply_write.as_raw_fd());
        let mut command = Command::new(binary);
        command
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-component-update",
                "--hide-scrollbars",
                "--remote-debugging-pipe",
                &format!("--window-size={width},{height}"),
                &format!("--user-data-dir={}", profile.path().display()),
                "about:blank",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: only async-signal-safe calls (fcntl, dup2, close) between fork and exec.
        // The pipe ends are first copied above fd 10, since either may itself be fd 3 or 4
        // (dup2 onto itself would keep close-on-exec, and the first dup2 could clobber the
        // second end); the copies on 3 and 4 are then inheritable.
        unsafe {
            command.pre_exec(move || {
                let input = libc::fcntl(child_in, libc::F_DUPFD, 10);
                let output = libc::fcntl(child_out, libc::F_DUPFD, 10);
                if input < 0 || output < 0 || libc::dup2(input, 3) < 0 || libc::dup2(output, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(input);
                libc::close(output);
                Ok(())
            });
        }
        let child = command.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        drop(command_read);
        drop(reply_write);
        let (tx, rx) = std::sync::mpsc::channel();
        let mut reader = std::fs::File::from(reply_read);
        std::thread::spawn(move || {
            let mut pending = Vec::new();
            let mut buf = [0u8; 65536];
            loop {
                let n = match reader.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                pending.extend_from_slice(&buf[..n]);
                while let Some(end) = pending.iter().position(|&b| b == 0) {
                    let message: Vec<u8> = pending.drain(..=end).collect();
                    if let Ok(value) = serde_json::from_slice::<Value>(&message[..end]) {
                        if tx.send(value).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        Browser { child, commands: std::fs::File::from(command_write), replies: rx, next_id: 0, events: Vec::new(), _profile: profile }
    }

    /// Sends a command (to a page session if given) and waits for its reply.
    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            message["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        self.commands.write_all(&bytes).unwrap_or_else(|e| panic!("{method}: cannot write to the browser: {e}"));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let reply = self.next_message(deadline).unwrap_or_else(|| panic!("{method}: no reply from the browser within 60 s"));
            if reply.get("id").and_then(Value::as_u64) == Some(id) {
                assert!(reply.get("error").is_none(), "{method}: {}", reply["error"]);
                return reply["result"].clone();
            }
            self.events.push(reply);
        }
    }

    fn next_message(&mut self, deadline: Instant) -> Option<Value> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.replies.recv_timeout(left) {
            Ok(v) => Some(v),
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => None,
        }
    }

    /// Waits for an event named `method`, keeping the others.
    fn wait_for(&mut self, method: &str, timeout: Duration) -> bool {
        if self.events.iter().any(|e| e["method"] == method) {
            return true;
        }
        let deadline = Instant::now() + timeout;
        while let Some(message) = self.next_message(deadline) {
            let hit = message["method"] == method;
            self.events.push(message);
            if hit {
                return true;
            }
        }
        false
    }

    /// Collects events for `quiet` more.
    fn drain(&mut self, quiet: Duration) {
        let deadline = Instant::now() + quiet;
        while let Some(message) = self.next_message(deadline) {
            self.events.push(message);
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ends only the browser this test started, by its own handle.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Problems among the collected events.
fn errors(events: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    for e in events {
        let p = &e["params"];
        match e["method"].as_str() {
            Some("Runtime.exceptionThrown") => out.push(format!("exception: {}", p["exceptionDetails"])),
            Some("Runtime.consoleAPICalled") if matches!(p["type"].as_str(), Some("error" | "assert" | "warning")) => {
                out.push(format!("console.{}: {}", p["type"].as_str().unwrap_or(""), p["args"]));
            }
            Some("Log.entryAdded") if matches!(p["entry"]["level"].as_str(), Some("error" | "warning")) => {
                out.push(format!("log {}: {} {}", p["entry"]["level"], p["entry"]["text"], p["entry"]["url"]));
            }
            _ => {}
        }
    }
    out
}

/// Decodes standard base64 (the screenshot's encoding).
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let bytes: Vec<u8> = text.bytes().filter(|&c| c != b'=' && !c.is_ascii_whitespace()).collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= u32::from(value(c)) << (18 - 6 * i);
        }
        for i in 0..chunk.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}

/// Loads `page` (a local file) and reports what happened.
pub fn visit(binary: &Path, page: &Path, width: u32, height: u32) -> PageVisit {
    let mut browser = Browser::launch(binary, width, height);
    let target = browser.call(None, "Target.createTarget", json!({ "url": "about:blank" }));
    let target_id = target["targetId"].as_str().expect("a target id").to_string();
    let attached = browser.call(None, "Target.attachToTarget", json!({ "targetId": target_id, "flatten": true }));
    let session = attached["sessionId"].as_str().expect("a session id").to_string();
    let s = Some(session.as_str());
    browser.call(s, "Runtime.enable", json!({}));
    browser.call(s, "Log.enable", json!({}));
    browser.call(s, "Page.enable", json!({}));
    browser.call(s, "Emulation.setDeviceMetricsOverride", json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }));
    let url = format!("file://{}", std::path::absolute(page).unwrap().display());
    let navigated = browser.call(s, "Page.navigate", json!({ "url": url }));
    assert!(navigated.get("errorText").is_none(), "navigation failed: {navigated}");
    assert!(browser.wait_for("Page.loadEventFired", Duration::from_secs(60)), "the page did not finish loading in 60 s");
    // Late errors (e.g. from the script) have a moment to arrive.
    browser.drain(Duration::from_millis(500));
    let probe = "JSON.stringify({images: document.images.length, decoded: Array.prototype.filter.call(document.images, function(i){return i.complete && i.naturalWidth > 0;}).length, title: document.title, text: document.body.innerText})";
    let result = browser.call(s, "Runtime.evaluate", json!({ "expression": probe, "returnByValue": true }));
    let facts: Value = serde_json::from_str(result["result"]["value"].as_str().expect("the probe returns a string")).unwrap();
    let shot = browser.call(s, "Page.captureScreenshot", json!({ "format": "png" }));
    let screenshot = base64_decode(shot["data"].as_str().expect("screenshot data"));
    browser.drain(Duration::from_millis(100));
    PageVisit {
        errors: errors(&browser.events),
        images: facts["images"].as_u64().unwrap_or(0),
        images_decoded: facts["decoded"].as_u64().unwrap_or(0),
        title: facts["title"].as_str().unwrap_or("").to_string(),
        text: facts["text"].as_str().unwrap_or("").to_string(),
        screenshot,
    }
}
