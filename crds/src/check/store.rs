//! MessageStore checks: the settings block of the store's type (and no other), names that
//! go into SQL, broker settings in range, and a failover store that is another store.
//! Opening the store — and reading its secrets from the environment — is the runtime's.

use super::cx::Cx;
use crate::resources::message_store::{MessageStoreSpec, StoreType};

/// Whether `table` is a plain SQL name (letters, digits, `_`; at most 64): table names go
/// into SQL text, so nothing else may reach it.
pub fn valid_table_name(table: &str) -> bool {
    let mut chars = table.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && table.len() <= 64
}

/// Checks a MessageStore spec; returns whether it is sound.
pub fn check(cx: &mut Cx<'_>, name: &str, spec: &MessageStoreSpec) -> bool {
    let before = cx.error_count();
    let blocks = [
        ("memory", StoreType::Memory, spec.memory.is_some()),
        ("sqlite", StoreType::Sqlite, spec.sqlite.is_some()),
        ("rabbitmq", StoreType::Rabbitmq, spec.rabbitmq.is_some()),
        ("postgres", StoreType::Postgres, spec.postgres.is_some()),
    ];
    for (block, ty, set) in blocks {
        if set && ty != spec.type_ {
            cx.error(
                &format!("spec.{block}"),
                format!(
                    "only the block of the store's type may be set (type is {:?})",
                    spec.type_
                ),
            );
        }
    }
    if let Some(sqlite) = &spec.sqlite
        && !valid_table_name(&sqlite.table)
    {
        cx.error(
            "spec.sqlite.table",
            format!(
                "{:?} is not a plain SQL name (letters, digits, _)",
                sqlite.table
            ),
        );
    }
    match (&spec.type_, &spec.rabbitmq) {
        (StoreType::Rabbitmq, None) => cx.error(
            "spec.rabbitmq",
            "a rabbitmq store needs its settings block (at least host)",
        ),
        (_, Some(r)) => {
            if let Some(tls) = &r.tls {
                super::tls::client(cx, "spec.rabbitmq.tls", tls);
            }
            if r.host.trim().is_empty() {
                cx.error("spec.rabbitmq.host", "host is required");
            }
            if r.prefetch == 0 {
                cx.error("spec.rabbitmq.prefetch", "must be at least 1");
            }
            let retry = &r.connection_retry;
            if retry.initial_delay == 0 || retry.max_delay < retry.initial_delay {
                cx.error(
                    "spec.rabbitmq.connectionRetry",
                    "initialDelay must be at least 1 and maxDelay at least initialDelay",
                );
            }
            match (&r.username, &r.password_from) {
                (_, Some(from)) if from.env_var().is_none() => {
                    cx.error("spec.rabbitmq.passwordFrom", "set env or secretKeyRef")
                }
                (Some(_), None) => cx.error(
                    "spec.rabbitmq.passwordFrom",
                    "passwordFrom is required with username",
                ),
                _ => {}
            }
        }
        (_, None) => {}
    }
    if let Some(pg) = &spec.postgres {
        if !valid_table_name(&pg.table) {
            cx.error(
                "spec.postgres.table",
                format!(
                    "table {:?} is not a plain SQL name (letters, digits, _)",
                    pg.table
                ),
            );
        }
        if pg.pool_size == 0 {
            cx.error("spec.postgres.poolSize", "must be at least 1");
        }
        if pg.url.is_some() && pg.url_from.is_some() {
            cx.error("spec.postgres", "set url or urlFrom, not both");
        }
        match (&pg.tls, &pg.url) {
            (Some(tls), _) => super::data::check_tls(cx, "spec.postgres.tls", tls),
            (None, Some(url)) => {
                if let Err(e) = super::data::url_tls(crate::resources::DatabaseType::Postgres, url)
                {
                    cx.error("spec.postgres.url", e);
                }
            }
            (None, None) => {}
        }
        for (field, from) in [
            ("urlFrom", &pg.url_from),
            ("passwordFrom", &pg.password_from),
        ] {
            if from.as_ref().is_some_and(|f| f.env_var().is_none()) {
                cx.error(&format!("spec.postgres.{field}"), "set env or secretKeyRef");
            }
        }
    }
    if let Some(f) = &spec.failover_store {
        if f == name {
            cx.error(
                "spec.failoverStore",
                "a store cannot be its own failover store",
            );
        } else {
            cx.reference("spec.failoverStore", "MessageStore", f);
        }
    }
    cx.error_count() == before
}
