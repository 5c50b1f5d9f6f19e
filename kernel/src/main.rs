//! The demo unikernel that `cargo run` boots.
#![no_std]
#![no_main]

extern crate kernel;
