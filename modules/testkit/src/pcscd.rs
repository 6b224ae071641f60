//! A real `pcscd` with the `vsmartcard-vpcd` virtual readers, and DESFire
//! card emulators "tapped" on them over vpcd's socket protocol.
//!
//! vpcd (loaded by pcscd from `/etc/reader.conf.d/vpcd`) listens on
//! 127.0.0.1:35963 for reader "Virtual PCD 00 00" and :35964 for "Virtual
//! PCD 00 01"; a card is present while a virtual card is connected. Frames
//! are a 2-byte big-endian length and a payload; a 1-byte payload is a
//! control code (0 power off, 1 power on, 2 reset, 4 send the ATR), any
//! other is a C-APDU answered by an R-APDU.
//!
//! The ports and pcscd's socket (`/run/pcscd/pcscd.comm`) are fixed, so
//! one pcscd serves the machine and one test uses it at a time:
//! [`Pcscd::start`] returns a guard holding a process-wide lock, and reuses
//! a pcscd already running with vpcd loaded.

use clavis_desfire::emulator::CardEmulator;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The vpcd port of the first virtual reader.
pub const READER_0: u16 = 35963;
/// The vpcd port of the second virtual reader.
pub const READER_1: u16 = 35964;
/// ATR of a DESFire EV2 on a contactless reader (PC/SC part 3, no
/// historical bytes).
pub const DESFIRE_ATR: [u8; 6] = [0x3B, 0x81, 0x80, 0x01, 0x80, 0x80];

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// pcscd's socket (fixed at build time in Debian's pcsc-lite).
const SOCKET: &str = "/run/pcscd/pcscd.comm";

/// Whether vpcd's first reader accepts a virtual card. The probe connects
/// and leaves at once (vpcd sees a card come and go).
fn vpcd_listening() -> bool {
    TcpStream::connect(("127.0.0.1", READER_0)).is_ok_and(|s| {
        let _ = s.shutdown(Shutdown::Both);
        true
    })
}

/// Whether pcscd and the vpcd driver are installed.
pub fn available() -> bool {
    std::path::Path::new("/usr/sbin/pcscd").exists()
        && std::path::Path::new("/etc/reader.conf.d/vpcd").exists()
}

/// A running pcscd; stopped when dropped.
#[derive(Debug)]
pub struct Pcscd {
    child: Option<Child>,
    dir: tempfile::TempDir,
    _turn: MutexGuard<'static, ()>,
}

impl Pcscd {
    /// Starts pcscd in the foreground (or reuses the running one) and
    /// waits until vpcd's first reader accepts connections.
    pub fn start() -> Pcscd {
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
        let dir = tempfile::tempdir().expect("temp dir");
        let socket = PathBuf::from(SOCKET);
        if socket.exists() && vpcd_listening() {
            return Pcscd {
                child: None,
                dir,
                _turn: turn,
            };
        }
        let _ = std::fs::remove_file(&socket);
        let log = std::fs::File::create(dir.path().join("pcscd.log")).expect("log file");
        let child = Command::new("/usr/sbin/pcscd")
            .args(["--foreground", "--info"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("pcscd starts (apt install pcscd vsmartcard-vpcd)");
        let mut p = Pcscd {
            child: Some(child),
            dir,
            _turn: turn,
        };
        let ready = crate::wait_until(Duration::from_secs(15), || {
            socket.exists()
                && TcpStream::connect(("127.0.0.1", READER_0)).is_ok_and(|s| {
                    // A probe that connects and leaves at once: vpcd sees a card
                    // inserted and removed.
                    let _ = s.shutdown(Shutdown::Both);
                    true
                })
        });
        if !ready {
            let log = p.log();
            p.stop();
            panic!("pcscd did not start; its log:\n{log}");
        }
        p
    }

    /// pcscd's socket.
    pub fn socket(&self) -> PathBuf {
        PathBuf::from(SOCKET)
    }

    /// pcscd's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pcscd.log")).unwrap_or_default()
    }

    /// Stops pcscd.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            if !crate::wait_until(Duration::from_secs(5), || {
                c.try_wait().ok().flatten().is_some()
            }) {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

impl Drop for Pcscd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A card emulator held on a virtual reader; removed when dropped.
#[derive(Debug)]
pub struct Tapped {
    stream: TcpStream,
    thread: Option<std::thread::JoinHandle<()>>,
    answered: Arc<AtomicUsize>,
    gone: Arc<AtomicBool>,
}

impl Tapped {
    /// Puts `card` on the reader at vpcd `port`. With `pull_after`, the
    /// card leaves the field after answering that many APDUs (a badge
    /// pulled away mid-exchange).
    pub fn tap(port: u16, card: Arc<Mutex<CardEmulator>>, pull_after: Option<usize>) -> Tapped {
        let mut stream = None;
        crate::wait_until(Duration::from_secs(10), || {
            stream = TcpStream::connect(("127.0.0.1", port)).ok();
            stream.is_some()
        });
        let stream = stream.expect("vpcd accepts the virtual card");
        stream.set_nodelay(true).ok();
        let answered = Arc::new(AtomicUsize::new(0));
        let gone = Arc::new(AtomicBool::new(false));
        let mut s = stream.try_clone().expect("clone socket");
        let (a, g) = (answered.clone(), gone.clone());
        let thread = std::thread::spawn(move || {
            let _ = serve(&mut s, &card, pull_after, &a);
            g.store(true, Ordering::SeqCst);
            let _ = s.shutdown(Shutdown::Both);
        });
        Tapped {
            stream,
            thread: Some(thread),
            answered,
            gone,
        }
    }

    /// APDUs answered so far.
    pub fn answered(&self) -> usize {
        self.answered.load(Ordering::SeqCst)
    }

    /// Whether the card left the field (pulled or removed).
    pub fn is_gone(&self) -> bool {
        self.gone.load(Ordering::SeqCst)
    }

    /// Takes the card away.
    pub fn remove(mut self) {
        self.take_away();
    }

    fn take_away(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Tapped {
    fn drop(&mut self) {
        self.take_away();
    }
}

fn send(s: &mut TcpStream, payload: &[u8]) -> std::io::Result<()> {
    let len = u16::try_from(payload.len()).unwrap_or(u16::MAX);
    let mut frame = len.to_be_bytes().to_vec();
    frame.extend_from_slice(payload);
    s.write_all(&frame)
}

fn serve(
    s: &mut TcpStream,
    card: &Mutex<CardEmulator>,
    pull_after: Option<usize>,
    answered: &AtomicUsize,
) -> std::io::Result<()> {
    loop {
        let mut len = [0u8; 2];
        s.read_exact(&mut len)?;
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        s.read_exact(&mut buf)?;
        match buf.as_slice() {
            [0] | [1] => {}
            [2] => card.lock().unwrap_or_else(|p| p.into_inner()).reset(),
            [4] => send(s, &DESFIRE_ATR)?,
            apdu => {
                if pull_after.is_some_and(|n| answered.load(Ordering::SeqCst) >= n) {
                    return Ok(());
                }
                let r = card.lock().unwrap_or_else(|p| p.into_inner()).process(apdu);
                answered.fetch_add(1, Ordering::SeqCst);
                send(s, &r)?;
            }
        }
    }
}
