//! The card reader, through PC/SC (pcscd on Linux, WinSCard on Windows).

use pcsc::{Context, Protocols, ReaderState, Scope, ShareMode, State};
use std::ffi::CString;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Errors from the reader.
#[derive(Debug, thiserror::Error)]
pub enum CardError {
    /// No PC/SC service or no reader.
    #[error("no card reader: {0}")]
    NoReader(String),
    /// The card did not answer (removed, mute).
    #[error("card did not answer: {0}")]
    Transmit(String),
}

/// A card that answers APDUs.
pub trait Card {
    /// Sends one APDU, returns the card's answer (with its status word).
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, CardError>;
}

/// A card on a PC/SC reader.
pub struct PcscCard(pcsc::Card);

impl std::fmt::Debug for PcscCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PcscCard")
    }
}

impl Card for PcscCard {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, CardError> {
        let mut buf = [0u8; pcsc::MAX_BUFFER_SIZE];
        self.0
            .transmit(apdu, &mut buf)
            .map(<[u8]>::to_vec)
            .map_err(|e| CardError::Transmit(e.to_string()))
    }
}

/// The reader this agent uses (re-established if pcscd restarts).
pub struct Reader {
    wanted: Option<String>,
    ctx: Mutex<Option<Context>>,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("wanted", &self.wanted)
            .finish()
    }
}

impl Reader {
    /// The first reader whose name contains `wanted` (any reader if
    /// `None`).
    pub fn new(wanted: Option<String>) -> Self {
        Reader {
            wanted,
            ctx: Mutex::new(None),
        }
    }

    fn context(&self) -> Result<Context, CardError> {
        let mut g = self.ctx.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = g.as_ref()
            && c.is_valid().is_ok()
        {
            return Ok(c.clone());
        }
        let c = Context::establish(Scope::User).map_err(|e| CardError::NoReader(e.to_string()))?;
        *g = Some(c.clone());
        Ok(c)
    }

    fn forget(&self) {
        *self.ctx.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// The reader's name.
    pub fn name(&self) -> Result<CString, CardError> {
        let ctx = self.context()?;
        let readers = ctx.list_readers_owned().map_err(|e| {
            self.forget();
            CardError::NoReader(e.to_string())
        })?;
        readers
            .into_iter()
            .find(|r| {
                self.wanted
                    .as_deref()
                    .is_none_or(|w| r.to_string_lossy().contains(w))
            })
            .ok_or_else(|| CardError::NoReader("no matching reader".into()))
    }

    /// Whether a card is on the reader now.
    pub fn card_present(&self) -> Result<bool, CardError> {
        self.card_state().map(|(present, _)| present)
    }

    /// Whether a card is on the reader, and the reader's event count
    /// (which changes at every insertion and removal, so a card taken away
    /// and tapped again is told from one left in place).
    pub fn card_state(&self) -> Result<(bool, u32), CardError> {
        let name = self.name()?;
        let ctx = self.context()?;
        let mut rs = [ReaderState::new(name, State::UNAWARE)];
        ctx.get_status_change(Duration::from_millis(0), &mut rs)
            .map_err(|e| {
                self.forget();
                CardError::NoReader(e.to_string())
            })?;
        let s = rs[0].event_state();
        tracing::trace!(state = ?s, events = rs[0].event_count(), "reader state");
        Ok((
            s.contains(State::PRESENT) && !s.contains(State::MUTE),
            rs[0].event_count(),
        ))
    }

    /// Connects to the card on the reader.
    pub fn connect(&self) -> Result<PcscCard, CardError> {
        let name = self.name()?;
        let ctx = self.context()?;
        ctx.connect(&name, ShareMode::Shared, Protocols::ANY)
            .map(PcscCard)
            .map_err(|e| CardError::Transmit(e.to_string()))
    }

    /// Waits until `ready(present, event count)` says a card may be used
    /// (polling the reader), then connects; returns the card and the event
    /// count it was found at. `None` when `timeout` passes first. A reader
    /// that fails to answer (pcscd restarting, a reader unplugged and
    /// plugged back) is asked again until then: the error is returned only
    /// if it still fails at the end (so a reader missing altogether takes
    /// the whole wait to be reported, as a card never tapped does).
    pub fn wait_for_card(
        &self,
        timeout: Duration,
        mut ready: impl FnMut(bool, u32) -> bool,
    ) -> Result<Option<(PcscCard, u32)>, CardError> {
        let deadline = Instant::now() + timeout;
        let mut last = None;
        loop {
            let state = self.card_state();
            let now = Instant::now();
            match state {
                Ok((present, events)) => {
                    last = Some((present, events));
                    if ready(present, events) {
                        match self.connect() {
                            Ok(c) => return Ok(Some((c, events))),
                            Err(e) => tracing::debug!(error = %e, "card not ready yet"),
                        }
                    }
                }
                Err(e) if now < deadline => {
                    tracing::debug!(error = %e, "reader not answering, asking again");
                }
                Err(e) => return Err(e),
            }
            if now >= deadline {
                tracing::info!(
                    card.present = last.map(|(p, _)| p),
                    reader.events = last.map(|(_, e)| e),
                    "no card to read within {} s",
                    timeout.as_secs_f32()
                );
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
