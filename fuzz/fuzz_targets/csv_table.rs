//! Any bytes as a CSV file: reading, labelling every column as the target, fitting the
//! preprocessing and transforming must return values or errors, never panic.
#![no_main]

use gpumlp::data::prep::{label, MissingPolicy, Preprocessor};
use gpumlp::data::table::Table;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(table) = Table::from_reader("fuzz.csv", data) else {
        return;
    };
    for target in table.columns.clone() {
        for missing in [MissingPolicy::Impute, MissingPolicy::Drop] {
            let Ok(labelled) = label(&table, &target, None, missing) else {
                continue;
            };
            let all: Vec<usize> = (0..labelled.rows.len()).collect();
            if let Ok(prep) = Preprocessor::fit(&table, &labelled, &all) {
                let _ = prep.transform(&table, &labelled.rows);
            }
        }
    }
});
