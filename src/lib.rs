//! interlok-k8s: a staged wizard that takes a workstation to an Interlok instance autoscaling on
//! `MessageMetrics` in minikube (or an existing cluster), and a health check for the whole chain.
//!
//! Layers, top to bottom: `cli` → `settings` (validated once) → `commands` (thin handlers) → `engine` and
//! `stages`, `verify` → `cluster` (the read side both ask) → `tools` (typed wrappers) → `runner` (the only place
//! a process starts). `ui` is the only place
//! that prints or asks.

pub mod adapter_rule;
pub mod bundle;
pub mod cli;
pub mod cluster;
pub mod commands;
pub mod context;
pub mod demo;
pub mod engine;
pub mod images;
pub mod interlok_config;
pub mod load;
pub mod manifests;
pub mod menu;
pub mod platform;
pub mod portforward;
pub mod preflight;
pub mod problem;
pub mod prometheus_api;
pub mod record;
pub mod runner;
pub mod settings;
pub mod stages;
pub mod supervise;
pub mod teardown;
pub mod tools;
pub mod ui;
pub mod verify;
pub mod version;
pub mod wait;
pub mod watch;
