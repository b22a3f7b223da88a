//! The urgent journal: where an urgent append (Trail's record of a search) becomes durable
//! without waiting for the bulk appends numbered before it.
//!
//! Why: the log is written in sequence order, so a frame numbered after a bulk batch reaches
//! the disk only after that batch does, and on a busy machine writing one 450 kB batch into the
//! page cache has been seen to take 100–430 ms (`http_load`, 10M events on 10M, 2 cores). A
//! search whose record waited for that waited as long. So an urgent frame, once numbered, is
//! also written here and synced, which is all its appender waits for; the log gets the same
//! frame in its turn, and the sync thread makes it durable there as usual.
//!
//! Layout: `log/urgent.journal`, [`JOURNAL_BYTES`] long, created full of zeroes and synced, so
//! that writing an entry overwrites blocks already allocated and its `fdatasync` has no file
//! size or block map to commit, only the entry's page. Entries are log frames exactly as the
//! log holds them (magic, length, CRC-32 over the numbered body), written back to back from
//! offset 0 under one lock, in the order their appenders reach it. When the next one does not fit,
//! the journal starts again at 0, but only once every frame in it is durable in the log;
//! until then an urgent append waits for the log instead.
//!
//! Recovery: [`Journal::open`] reads frames from offset 0 while they decode; older entries
//! beyond the newest (or torn ones) end the scan. Every frame found goes back through the
//! store's append, which stores only the events whose id is not in the log yet: those whose
//! log copy a crash lost, renumbered after what the log kept (the numbers the journal held were
//! never visible). Entries left from before a restart are therefore harmless.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;

use super::log::{decode_frame, fsync_dir, DecodedFrame};
use crate::error::StoreError;

/// The journal's size: about 4,000 records of searches. It starts over once the log has
/// synced what it holds, which takes milliseconds, so it fills only while the log's syncs stall.
pub const JOURNAL_BYTES: u64 = 4 << 20;

/// Larger frames are not journaled: the journal is for a few records someone waits for, not
/// for bulk batches, which would fill it at once.
pub const MAX_ENTRY_BYTES: u64 = JOURNAL_BYTES / 16;

const FILE_NAME: &str = "urgent.journal";

/// The urgent journal of one store (see the module docs).
pub struct Journal {
    path: PathBuf,
    file: File,
    state: Mutex<JournalState>,
}

struct JournalState {
    /// Where the next entry goes.
    next: u64,
    /// The highest log position (end of frame) of an entry since the journal last started
    /// over: once the log is synced that far, the journal may start over again.
    newest_lsn_end: u64,
}

impl Journal {
    /// Opens the journal in `log_dir`, creating it when missing, and returns the frames it
    /// holds, in the order they were written (see the module docs for what to do with them).
    pub fn open(log_dir: &Path) -> Result<(Journal, Vec<DecodedFrame>), StoreError> {
        let path = log_dir.join(FILE_NAME);
        let sized = std::fs::metadata(&path).is_ok_and(|m| m.len() == JOURNAL_BYTES);
        if !sized {
            create_zeroed(log_dir, &path)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| StoreError::io(&path, e))?;
        let mut contents = vec![0u8; JOURNAL_BYTES as usize];
        file.read_exact_at(&mut contents, 0)
            .map_err(|e| StoreError::io(&path, e))?;
        let mut frames = Vec::new();
        let mut at = 0;
        while let Some(frame) = decode_frame(&contents[at..]) {
            at += frame.len;
            frames.push(frame);
        }
        let journal = Journal {
            path,
            file,
            state: Mutex::new(JournalState {
                next: 0,
                newest_lsn_end: 0,
            }),
        };
        Ok((journal, frames))
    }

    /// Writes `frame`, whose end is at log position `lsn_end`, and syncs it. `Ok(false)` when
    /// it is larger than [`MAX_ENTRY_BYTES`] or does not fit: the journal is full of frames the
    /// log has not synced yet (the log is synced up to `log_synced_lsn`). The caller then waits
    /// for the log instead.
    pub fn write_durable(
        &self,
        frame: &[u8],
        lsn_end: u64,
        log_synced_lsn: u64,
    ) -> Result<bool, StoreError> {
        let len = frame.len() as u64;
        {
            let mut state = self.state.lock();
            if len > MAX_ENTRY_BYTES {
                return Ok(false);
            }
            if state.next + len > JOURNAL_BYTES {
                if log_synced_lsn < state.newest_lsn_end {
                    return Ok(false);
                }
                state.next = 0;
            }
            // Written under the lock, so entries lie back to back in numbering order whenever
            // a sync covers them: a later entry never survives a crash that tore an earlier one.
            self.file
                .write_all_at(frame, state.next)
                .map_err(|e| StoreError::io(&self.path, e))?;
            state.next += len;
            state.newest_lsn_end = state.newest_lsn_end.max(lsn_end);
        }
        self.file
            .sync_data()
            .map_err(|e| StoreError::io(&self.path, e))?;
        Ok(true)
    }
}

/// Creates the journal full of zeroes, whole or not at all: written under a temporary name,
/// synced, then renamed into place.
fn create_zeroed(log_dir: &Path, path: &Path) -> Result<(), StoreError> {
    let tmp = log_dir.join(format!("{FILE_NAME}.tmp"));
    let mut file = File::create(&tmp).map_err(|e| StoreError::io(&tmp, e))?;
    let zeroes = vec![0u8; 1 << 20];
    for _ in 0..JOURNAL_BYTES / zeroes.len() as u64 {
        file.write_all(&zeroes)
            .map_err(|e| StoreError::io(&tmp, e))?;
    }
    file.sync_all().map_err(|e| StoreError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| StoreError::io(path, e))?;
    fsync_dir(log_dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::log::UnsequencedFrame;

    fn frame(first_seq: u64, doc: &str) -> Vec<u8> {
        UnsequencedFrame::encode(7, &[(doc, [0u8; 32])])
            .sequence(first_seq)
            .0
    }

    #[test]
    fn frames_written_come_back_in_order_after_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, found) = Journal::open(dir.path()).unwrap();
        assert!(found.is_empty());
        assert_eq!(
            std::fs::metadata(dir.path().join(FILE_NAME)).unwrap().len(),
            JOURNAL_BYTES
        );
        assert!(journal.write_durable(&frame(5, "a"), 100, 0).unwrap());
        assert!(journal.write_durable(&frame(6, "b"), 200, 0).unwrap());
        drop(journal);
        let (_, found) = Journal::open(dir.path()).unwrap();
        let seqs: Vec<(u64, &str)> = found
            .iter()
            .map(|f| (f.first_seq, f.documents[0].as_str()))
            .collect();
        assert_eq!(seqs, [(5, "a"), (6, "b")]);
    }

    #[test]
    fn a_full_journal_starts_over_only_once_the_log_synced_what_it_holds() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = Journal::open(dir.path()).unwrap();
        let entry = |seq: u64| frame(seq, &"x".repeat(MAX_ENTRY_BYTES as usize - 100));
        for seq in 1..=16 {
            assert!(journal.write_durable(&entry(seq), seq * 1_000, 0).unwrap());
        }
        assert!(
            !journal.write_durable(&entry(17), 17_000, 15_999).unwrap(),
            "full"
        );
        assert!(
            journal.write_durable(&entry(17), 17_000, 16_000).unwrap(),
            "the log holds every frame now: the journal starts over"
        );
        let too_big = frame(18, &"x".repeat(MAX_ENTRY_BYTES as usize));
        assert!(!journal.write_durable(&too_big, 18_000, 17_000).unwrap());
        drop(journal);
        let (_, found) = Journal::open(dir.path()).unwrap();
        let seqs: Vec<u64> = found.iter().map(|f| f.first_seq).collect();
        assert_eq!(
            seqs,
            [17].into_iter().chain(2..=16).collect::<Vec<_>>(),
            "entry 17 took entry 1's place; the older entries after it, which the log holds, \
             are found too (recovery finds their events stored)"
        );
    }
}
