//! The KV binding (ABI.md §12, "KV"): GoMode's `__KV_*` operations over an embedded redb
//! database, answered with the statuses, bodies and content types GoMode's Worker gives over
//! Workers KV.
//!
//! redb is a pure-Rust, crash-safe embedded store: each write is one committed transaction, so a
//! `PUT` is either wholly there or not at all, and a file written by one `gomode-host` process is
//! read by the next. Without a path the store lives in a temporary file removed on drop, or, for
//! tests, in memory.

use std::fmt;
use std::path::Path;

use redb::{Database, ReadableDatabase, TableDefinition};

use crate::fetch::FetchResult;

/// The one table: key to value, both UTF-8 text as Workers KV's text API keeps them.
const TABLE: TableDefinition<'_, &str, &str> = TableDefinition::new("kv");

/// The most names one `__KV_LIST` answers, Workers KV's page size.
pub const LIST_PAGE: usize = 1000;

/// The content type of every KV answer but `__KV_LIST`'s: what a `Response` built from a string
/// gets in a Worker.
const TEXT: &str = "text/plain;charset=UTF-8";

/// A KV store in a redb database.
pub struct Kv {
    db: Database,
    /// The temporary file of a store made by [`Kv::temporary`], removed when the store is dropped.
    _file: Option<tempfile::NamedTempFile>,
}

impl fmt::Debug for Kv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kv").finish_non_exhaustive()
    }
}

/// A KV store that cannot be opened or used; its text says which file and why.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KvError(String);

impl KvError {
    fn new(what: &str, err: impl fmt::Display) -> KvError {
        KvError(format!("KV store: {what}: {err}"))
    }
}

impl Kv {
    /// Opens the store in `path`, creating the file when it does not exist.
    pub fn open(path: &Path) -> Result<Kv, KvError> {
        let db = Database::create(path).map_err(|err| KvError::new(&format!("cannot open {}", path.display()), err))?;
        let kv = Kv { db, _file: None };
        kv.init()?;
        Ok(kv)
    }

    /// A fresh, empty store in a temporary file, for one process.
    pub fn temporary() -> Result<Kv, KvError> {
        let file = tempfile::Builder::new()
            .prefix("gomode-kv-")
            .suffix(".redb")
            .tempfile()
            .map_err(|err| KvError::new("cannot create a temporary file", err))?;
        let db = Database::create(file.path()).map_err(|err| KvError::new("cannot create a temporary store", err))?;
        let kv = Kv { db, _file: Some(file) };
        kv.init()?;
        Ok(kv)
    }

    /// A fresh, empty store in memory: the same database, for a store that lives as long as one
    /// test.
    pub fn in_memory() -> Result<Kv, KvError> {
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(|err| KvError::new("cannot create a store in memory", err))?;
        let kv = Kv { db, _file: None };
        kv.init()?;
        Ok(kv)
    }

    /// Creates the table, so that reads of a fresh store find it empty rather than missing.
    fn init(&self) -> Result<(), KvError> {
        let write = self.db.begin_write().map_err(|err| KvError::new("write", err))?;
        write.open_table(TABLE).map_err(|err| KvError::new("write", err))?;
        write.commit().map_err(|err| KvError::new("commit", err))
    }

    /// The value of `key`, if any.
    pub fn get(&self, key: &str) -> Result<Option<String>, KvError> {
        let read = self.db.begin_read().map_err(|err| KvError::new("read", err))?;
        let table = read.open_table(TABLE).map_err(|err| KvError::new("read", err))?;
        let value = table.get(key).map_err(|err| KvError::new("read", err))?;
        Ok(value.map(|value| value.value().to_owned()))
    }

    /// Sets `key` to `value` in one transaction.
    pub fn put(&self, key: &str, value: &str) -> Result<(), KvError> {
        self.write(|table| table.insert(key, value).map(drop))
    }

    /// Removes `key`, whether or not it exists, in one transaction.
    pub fn delete(&self, key: &str) -> Result<(), KvError> {
        self.write(|table| table.remove(key).map(drop))
    }

    /// The names that start with `prefix`, in byte order, at most `limit`.
    pub fn list(&self, prefix: &str, limit: usize) -> Result<Vec<String>, KvError> {
        let read = self.db.begin_read().map_err(|err| KvError::new("read", err))?;
        let table = read.open_table(TABLE).map_err(|err| KvError::new("read", err))?;
        let mut names = Vec::new();
        for entry in table.range(prefix..).map_err(|err| KvError::new("read", err))? {
            let (name, _) = entry.map_err(|err| KvError::new("read", err))?;
            let name = name.value();
            if !name.starts_with(prefix) || names.len() == limit {
                break;
            }
            names.push(name.to_owned());
        }
        Ok(names)
    }

    fn write(
        &self,
        change: impl FnOnce(&mut redb::Table<'_, &str, &str>) -> Result<(), redb::StorageError>,
    ) -> Result<(), KvError> {
        let write = self.db.begin_write().map_err(|err| KvError::new("write", err))?;
        {
            let mut table = write.open_table(TABLE).map_err(|err| KvError::new("write", err))?;
            change(&mut table).map_err(|err| KvError::new("write", err))?;
        }
        write.commit().map_err(|err| KvError::new("commit", err))
    }

    /// Runs a `__KV_*` operation as GoMode's Worker answers it; `None` for another binding op.
    pub fn operate(&self, op: &str, key: &str, body: &str) -> Option<FetchResult> {
        let text = |status: i32, body: &str| FetchResult { status, content_type: TEXT.into(), body: body.into() };
        let needs_key = matches!(op, "__KV_GET" | "__KV_PUT" | "__KV_DELETE");
        if needs_key && key.is_empty() {
            return Some(text(500, "TypeError: KV key must not be empty"));
        }
        let result = match op {
            "__KV_GET" => self.get(key).map(|value| match value {
                Some(value) => text(200, &value),
                None => text(404, ""),
            }),
            "__KV_PUT" => self.put(key, body).map(|()| text(200, "ok")),
            "__KV_DELETE" => self.delete(key).map(|()| text(200, "ok")),
            "__KV_LIST" => self.list(key, LIST_PAGE).map(|names| FetchResult {
                status: 200,
                content_type: "application/json".into(),
                body: serde_json::to_string(&names).expect("a list of strings is JSON"),
            }),
            _ => return None,
        };
        // GoMode answers a binding that throws with 500 and the error's text.
        Some(result.unwrap_or_else(|err| text(500, &format!("Error: {err}"))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_answer_as_gomode_does() {
        let kv = Kv::temporary().unwrap();
        let op = |op: &str, key: &str, body: &str| {
            let result = kv.operate(op, key, body).unwrap();
            (result.status, result.content_type, result.body)
        };
        assert_eq!(op("__KV_GET", "a", ""), (404, TEXT.into(), String::new()));
        assert_eq!(op("__KV_PUT", "a/2", "two"), (200, TEXT.into(), "ok".into()));
        assert_eq!(op("__KV_PUT", "a/1", "one \"1\""), (200, TEXT.into(), "ok".into()));
        assert_eq!(op("__KV_PUT", "b", ""), (200, TEXT.into(), "ok".into()));
        assert_eq!(op("__KV_GET", "a/1", ""), (200, TEXT.into(), "one \"1\"".into()));
        assert_eq!(op("__KV_GET", "b", ""), (200, TEXT.into(), String::new()));
        assert_eq!(op("__KV_LIST", "a/", ""), (200, "application/json".into(), r#"["a/1","a/2"]"#.into()));
        assert_eq!(op("__KV_LIST", "", "").2, r#"["a/1","a/2","b"]"#);
        assert_eq!(op("__KV_DELETE", "a/1", ""), (200, TEXT.into(), "ok".into()));
        assert_eq!(op("__KV_DELETE", "a/1", ""), (200, TEXT.into(), "ok".into()));
        assert_eq!(op("__KV_LIST", "a", "").2, r#"["a/2"]"#);
        assert_eq!(op("__KV_GET", "", "").0, 500);
        assert!(kv.operate("__R2_GET", "a", "").is_none());
    }

    #[test]
    fn a_store_in_a_file_outlives_its_process() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.redb");
        Kv::open(&path).unwrap().put("x", "1").unwrap();
        assert_eq!(Kv::open(&path).unwrap().get("x").unwrap().as_deref(), Some("1"));
    }

    #[test]
    fn a_list_is_one_page_in_byte_order() {
        let kv = Kv::temporary().unwrap();
        for i in 0..LIST_PAGE + 5 {
            kv.put(&format!("k{i:05}"), "").unwrap();
        }
        kv.put("é", "").unwrap();
        kv.put("z", "").unwrap();
        let names = kv.list("k", LIST_PAGE).unwrap();
        assert_eq!((names.len(), names[0].as_str(), names[999].as_str()), (LIST_PAGE, "k00000", "k00999"));
        assert_eq!(kv.list("", 2000).unwrap().last().map(String::as_str), Some("é"));
    }
}
