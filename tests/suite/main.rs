//! One integration-test binary: the test world's self-test, the product's behaviour in the world, and the
//! contract tests of every command the product builds.

mod bringup;
mod bundle;
mod cli;
mod contracts;
mod health;
mod house;
mod interlok;
mod keda;
mod limits;
mod load;
mod monitoring;
mod newcomer;
mod ownership;
mod parsers;
mod progress;
mod recovery;
mod reliability;
mod skeleton;
mod support;
mod teardown;
mod verify;
mod world_selftest;
