//! Data integration: DataSources (pooled PostgreSQL, MySQL/MariaDB and SQLite), the
//! DataService resources served at `/services/<name>/...`, and what the `dbLookup` /
//! `dbReport` mediators run on.
//!
//! The checker (`ferry_api::check::data`) has cut every statement into text and parameter
//! slots and converted defaults; here statements are rendered once per dialect, values are
//! bound by the driver, rows become JSON or XML (streamed for large results), and driver
//! errors become one of five client answers ([`error`]).

pub mod encode;
pub mod error;
pub mod exec;
pub mod health;
pub mod service;
pub mod source;
