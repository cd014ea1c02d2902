//! The state every handle of one replayable body shares: the source, what was recorded
//! of it, and the tasks waiting for its next frame.

use bytes::{Buf, Bytes};
use http::HeaderMap;
use http_body::{Body, SizeHint};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

/// What the recording can still do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Every byte read so far is recorded: any handle can replay it.
    Recording,
    /// The body outgrew the cap: the recording is dropped and only the handle `owner`
    /// (the one that read past the cap) goes on reading the source.
    Overflowed { owner: u64 },
    /// The source failed: nobody can send the whole body any more.
    Failed,
}

/// One step a handle takes, decided under the lock.
pub(super) enum Step<E> {
    /// A data frame for this handle.
    Data(Bytes),
    /// The trailers, the last frame.
    Trailers(HeaderMap),
    /// The body ended.
    End,
    /// The source failed on this handle's read.
    SourceError(E),
    /// This handle cannot go on: another one owns the source or it failed.
    Refused,
    /// Wait for the source.
    Pending,
}

/// A handle's position in the recording.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Cursor {
    /// Frames of the recording read.
    pub(super) frames: usize,
    /// Bytes read (for the size hint).
    pub(super) bytes: usize,
}

/// The source and its recording.
pub(super) struct Shared<B> {
    /// The original body, until it ends or fails.
    source: Option<Pin<Box<B>>>,
    frames: Vec<Bytes>,
    recorded: usize,
    trailers: Option<HeaderMap>,
    mode: Mode,
    cap: usize,
    next_id: u64,
}

impl<B: Body> Shared<B> {
    pub(super) fn new(source: B, cap: usize) -> Self {
        let ended = source.is_end_stream();
        Shared {
            source: (!ended).then(|| Box::pin(source)),
            frames: Vec::new(),
            recorded: 0,
            trailers: None,
            mode: Mode::Recording,
            cap,
            next_id: 0,
        }
    }

    /// A fresh handle id.
    pub(super) fn id(&mut self) -> u64 {
        self.next_id = self.next_id.wrapping_add(1);
        self.next_id
    }

    /// Whether the source has ended and every frame is recorded.
    fn complete(&self) -> bool {
        self.source.is_none() && self.mode == Mode::Recording
    }

    /// The next step for handle `id` at `cursor`; `waiters` is told who waits.
    pub(super) fn step(
        &mut self,
        id: u64,
        cursor: &mut Cursor,
        waiters: &Arc<Waiters>,
        cx: &mut Context<'_>,
    ) -> Step<B::Error> {
        match self.mode {
            Mode::Failed => Step::Refused,
            Mode::Overflowed { owner } if owner != id => Step::Refused,
            Mode::Overflowed { .. } => self.read_source(id, cursor, waiters, cx, false),
            Mode::Recording => {
                if let Some(frame) = self.frames.get(cursor.frames) {
                    cursor.frames += 1;
                    cursor.bytes += frame.len();
                    return Step::Data(frame.clone());
                }
                if self.source.is_none() {
                    return match &self.trailers {
                        Some(trailers) => Step::Trailers(trailers.clone()),
                        None => Step::End,
                    };
                }
                self.read_source(id, cursor, waiters, cx, true)
            }
        }
    }

    /// Polls the source for handle `id`, recording what it yields when `record`.
    fn read_source(
        &mut self,
        id: u64,
        cursor: &mut Cursor,
        waiters: &Arc<Waiters>,
        cx: &mut Context<'_>,
        record: bool,
    ) -> Step<B::Error> {
        let Some(source) = self.source.as_mut() else {
            return Step::End;
        };
        // Registered before the poll, so a wake during it is not lost; the source sees
        // a waker that wakes every handle waiting here, whoever polled last.
        waiters.register(id, cx.waker());
        let fan_out = Waker::from(waiters.clone());
        let mut source_cx = Context::from_waker(&fan_out);
        loop {
            let polled = source.as_mut().poll_frame(&mut source_cx);
            let step = match polled {
                Poll::Pending => return Step::Pending,
                Poll::Ready(None) => {
                    self.source = None;
                    Step::End
                }
                Poll::Ready(Some(Err(e))) => {
                    self.source = None;
                    self.mode = Mode::Failed;
                    self.frames = Vec::new();
                    Step::SourceError(e)
                }
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(mut data) => {
                        let bytes = data.copy_to_bytes(data.remaining());
                        if record {
                            self.record(id, cursor, &bytes);
                        }
                        Step::Data(bytes)
                    }
                    Err(frame) => match frame.into_trailers() {
                        Ok(trailers) => {
                            self.source = None;
                            if self.mode == Mode::Recording {
                                self.trailers = Some(trailers.clone());
                            }
                            Step::Trailers(trailers)
                        }
                        // A kind of frame this crate does not know: skipped.
                        Err(_) => continue,
                    },
                },
            };
            waiters.remove(id);
            waiters.wake_all();
            return step;
        }
    }

    /// Keeps `bytes`, or gives the source to `id` alone if they overflow the cap.
    fn record(&mut self, id: u64, cursor: &mut Cursor, bytes: &Bytes) {
        match self.recorded.checked_add(bytes.len()) {
            Some(total) if total <= self.cap => {
                self.recorded = total;
                self.frames.push(bytes.clone());
                cursor.frames += 1;
                cursor.bytes += bytes.len();
            }
            _ => {
                self.mode = Mode::Overflowed { owner: id };
                self.frames = Vec::new();
                self.recorded = 0;
            }
        }
    }

    /// The size hint of a handle at `cursor`.
    pub(super) fn size_hint(&self, id: u64, cursor: &Cursor) -> SizeHint {
        let source = self.source.as_ref().map(|s| s.size_hint());
        match self.mode {
            Mode::Recording => {
                let rest = self.recorded.saturating_sub(cursor.bytes) as u64;
                let mut hint = SizeHint::new();
                let source = source.unwrap_or_else(|| SizeHint::with_exact(0));
                hint.set_lower(source.lower().saturating_add(rest));
                if let Some(upper) = source.upper().and_then(|u| u.checked_add(rest)) {
                    hint.set_upper(upper);
                }
                hint
            }
            Mode::Overflowed { owner } if owner == id => source.unwrap_or_default(),
            _ => SizeHint::default(),
        }
    }

    /// Whether a handle at `cursor` has nothing more to read.
    pub(super) fn at_end(&self, cursor: &Cursor) -> bool {
        self.complete() && cursor.frames >= self.frames.len() && self.trailers.is_none()
    }

    /// Whether a new handle could send the whole body.
    pub(super) fn replayable(&self) -> bool {
        self.mode == Mode::Recording
    }
}

/// The tasks waiting for the source's next frame, woken together by the source.
#[derive(Debug, Default)]
pub(super) struct Waiters {
    list: Mutex<Vec<(u64, Waker)>>,
}

impl Waiters {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(u64, Waker)>> {
        self.list.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn register(&self, id: u64, waker: &Waker) {
        let mut list = self.lock();
        match list.iter_mut().find(|(i, _)| *i == id) {
            Some((_, w)) => w.clone_from(waker),
            None => list.push((id, waker.clone())),
        }
    }

    /// Forgets handle `id` (it got its frame, or it is dropped).
    pub(super) fn remove(&self, id: u64) {
        self.lock().retain(|(i, _)| *i != id);
    }

    /// Wakes every waiting handle: a frame was recorded, the source ended or failed, or
    /// it gave the source to one handle.
    pub(super) fn wake_all(&self) {
        let woken = std::mem::take(&mut *self.lock());
        for (_, waker) in woken {
            waker.wake();
        }
    }
}

impl Wake for Waiters {
    fn wake(self: Arc<Self>) {
        self.wake_all();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wake_all();
    }
}
