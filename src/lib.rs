//! interlok-k8s: a staged wizard that takes a workstation to an Interlok instance autoscaling on
//! `MessageMetrics` in minikube (or an existing cluster), and a health check for the whole chain.
//!
//! Layers, top to bottom: `cli` → `settings` (validated once) → `commands` (thin handlers) → `engine` and
//! `stages`, `verify` → `cluster` (the read side both ask) → `tools` (typed wrappers) → `runner` (the only place
//! a process starts). `ui` is the only place
//! that prints or asks.
//!
//! Visibility is `pub(crate)` by default: only what `main.rs`, the test suite, the benchmark and the fuzz targets
//! use is `pub`, and `unreachable_pub` keeps it so (a `pub` item no outside user can reach is a warning).

#![warn(unreachable_pub)]

pub mod adapter_rule;
pub(crate) mod api_proxy;
pub(crate) mod api_read;
pub mod base64;
pub mod bundle;
pub mod cli;
pub mod cluster;
pub mod commands;
pub mod context;
pub(crate) mod demo;
pub mod engine;
pub(crate) mod images;
pub(crate) mod interlok_config;
pub mod load;
pub mod manifests;
pub(crate) mod menu;
pub(crate) mod platform;
pub(crate) mod portforward;
pub(crate) mod preflight;
pub(crate) mod problem;
pub mod prometheus_api;
pub(crate) mod reach;
pub(crate) mod record;
pub mod runner;
pub mod settings;
pub mod stages;
pub mod supervise;
pub(crate) mod teardown;
pub mod tools;
pub mod ui;
pub mod verify;
pub mod version;
pub(crate) mod wait;
pub(crate) mod watch;
