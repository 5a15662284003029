//! Cron expressions and time zones from clients: parsed or refused, and an
//! accepted schedule always has a next run.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tenancy_core::resource::Schedule;

fuzz_target!(|input: (&str, &str)| {
    let (cron, zone) = input;
    if let Ok(schedule) = Schedule::parse(cron, Some(zone)) {
        let epoch = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
        assert!(schedule.next_run_after(epoch).is_some(), "{cron:?} in {zone:?}");
    }
});
