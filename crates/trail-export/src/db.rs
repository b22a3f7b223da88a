//! `exports.redb`: configurations, runs and per-config export state, in their own redb file next
//! to the store's `meta.redb`, so the export feature never touches the store's metadata schema.
//!
//! Records are JSON values (small, rarely written, readable with any redb tool). A run's
//! progress (its cursor and finished tasks) is written after each object is in the target; a
//! run's success and the config's new state are committed in one transaction.

use std::path::Path;

use redb::{Database, ReadableTable, TableDefinition};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::config::ExportConfig;
use crate::error::ExportError;
use crate::runs::{ExportState, RunRecord};

const CONFIGS: TableDefinition<&str, &[u8]> = TableDefinition::new("export_configs");
const STATES: TableDefinition<&str, &[u8]> = TableDefinition::new("export_states");
const RUNS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("export_runs");

fn to_json<T: Serialize>(v: &T) -> Result<Vec<u8>, ExportError> {
    serde_json::to_vec(v).map_err(|e| ExportError::Db(format!("cannot encode a record: {e}")))
}

fn from_json<T: DeserializeOwned>(b: &[u8]) -> Result<T, ExportError> {
    serde_json::from_slice(b).map_err(|e| ExportError::Db(format!("unreadable record: {e}")))
}

/// The export database.
pub struct ExportDb {
    db: Database,
}

impl ExportDb {
    pub fn open(path: &Path) -> Result<ExportDb, ExportError> {
        let db = Database::create(path)?;
        let tx = db.begin_write()?;
        tx.open_table(CONFIGS)?;
        tx.open_table(STATES)?;
        tx.open_table(RUNS)?;
        tx.commit()?;
        Ok(ExportDb { db })
    }

    pub fn configs(&self) -> Result<Vec<ExportConfig>, ExportError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(CONFIGS)?;
        let mut out = Vec::new();
        for row in t.iter()? {
            let (_, v) = row?;
            out.push(from_json(v.value())?);
        }
        out.sort_by(|a: &ExportConfig, b| a.created_ms.cmp(&b.created_ms).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    pub fn config(&self, id: &str) -> Result<Option<ExportConfig>, ExportError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(CONFIGS)?;
        let v = t.get(id)?;
        v.map(|v| from_json(v.value())).transpose()
    }

    /// Inserts or replaces a configuration; a new one gets `state`.
    pub fn put_config(
        &self,
        c: &ExportConfig,
        new_state: Option<&ExportState>,
    ) -> Result<(), ExportError> {
        let tx = self.db.begin_write()?;
        {
            let mut t = tx.open_table(CONFIGS)?;
            t.insert(c.id.as_str(), to_json(c)?.as_slice())?;
            if let Some(s) = new_state {
                let mut st = tx.open_table(STATES)?;
                st.insert(c.id.as_str(), to_json(s)?.as_slice())?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Removes a configuration, its state and its runs. False when it did not exist.
    pub fn delete_config(&self, id: &str) -> Result<bool, ExportError> {
        let tx = self.db.begin_write()?;
        let existed;
        {
            let mut t = tx.open_table(CONFIGS)?;
            existed = t.remove(id)?.is_some();
            tx.open_table(STATES)?.remove(id)?;
            let mut runs = tx.open_table(RUNS)?;
            let keys: Vec<u64> = runs
                .range((id, 0)..=(id, u64::MAX))?
                .map(|r| r.map(|(k, _)| k.value().1))
                .collect::<Result<_, _>>()?;
            for k in keys {
                runs.remove((id, k))?;
            }
        }
        tx.commit()?;
        Ok(existed)
    }

    pub fn state(&self, id: &str) -> Result<ExportState, ExportError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(STATES)?;
        let v = t.get(id)?;
        Ok(v.map(|v| from_json(v.value()))
            .transpose()?
            .unwrap_or_default())
    }

    pub fn put_state(&self, id: &str, s: &ExportState) -> Result<(), ExportError> {
        let tx = self.db.begin_write()?;
        tx.open_table(STATES)?.insert(id, to_json(s)?.as_slice())?;
        tx.commit()?;
        Ok(())
    }

    /// Runs of a configuration, newest first, at most `limit`.
    pub fn runs(&self, id: &str, limit: usize) -> Result<Vec<RunRecord>, ExportError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(RUNS)?;
        let mut out = Vec::new();
        for row in t.range((id, 0)..=(id, u64::MAX))?.rev().take(limit) {
            let (_, v) = row?;
            out.push(from_json(v.value())?);
        }
        Ok(out)
    }

    /// Every run of every configuration that is marked running (after a crash: interrupted).
    pub fn running_runs(&self) -> Result<Vec<RunRecord>, ExportError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(RUNS)?;
        let mut out = Vec::new();
        for row in t.iter()? {
            let (_, v) = row?;
            let r: RunRecord = from_json(v.value())?;
            if r.status == crate::runs::Status::Running {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Writes a run's progress. Fails with `NotFound` when the configuration was deleted meanwhile.
    pub fn put_run(&self, r: &RunRecord) -> Result<(), ExportError> {
        self.put_run_and_state(r, None)
    }

    /// Writes a run and (on success) the configuration's new state, in one transaction.
    pub fn put_run_and_state(
        &self,
        r: &RunRecord,
        state: Option<&ExportState>,
    ) -> Result<(), ExportError> {
        let tx = self.db.begin_write()?;
        {
            if tx.open_table(CONFIGS)?.get(r.config_id.as_str())?.is_none() {
                return Err(ExportError::NotFound(r.config_id.clone()));
            }
            tx.open_table(RUNS)?
                .insert((r.config_id.as_str(), r.run_id), to_json(r)?.as_slice())?;
            if let Some(s) = state {
                tx.open_table(STATES)?
                    .insert(r.config_id.as_str(), to_json(s)?.as_slice())?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}
