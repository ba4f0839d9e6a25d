//! The end of a shard's conversion: instead of the writer's finish, the
//! manifest (the notes of its items, what `--map` and `--instances` did to
//! them) and the item log its merge reads (see [`crate::shard`]).

use super::{ConvertReport, Plan, ShardPart, Tally};
use crate::error::Result;
use crate::io::Sink;
use crate::report::{NoteList, Warning};
use crate::shard::{ItemLog, MANIFEST, Manifest, ShardChoice};

impl Tally<'_> {
    /// Ends a shard: its report, and its manifest (with the notes of its
    /// items, those after `before_items`) and item log, still to write.
    pub(super) fn finish_shard(
        self,
        plan: &Plan,
        mut manifest: Manifest,
        choice: ShardChoice,
        before_items: (NoteList, NoteList),
    ) -> (ConvertReport, Option<(Manifest, ItemLog)>) {
        let log = self.log.expect("a shard keeps a log");
        let losses = self.losses.into_list();
        manifest.written = log.len();
        manifest.losses = losses.since(&before_items.0).saved();
        manifest.warnings = self.warnings.since(&before_items.1).saved();
        manifest.skipped = self.skipped.clone();
        let mut warnings = self.warnings;
        if choice.chosen_by != "--shard" {
            // A plain convert in an array task would otherwise be a surprise.
            warnings.push(Warning::new(
                "shard-from-environment",
                format!(
                    "{} is set: this run converts shard {} only (items {}..{} of {}), for maskconv merge; give --no-shard to convert every item",
                    choice.chosen_by, choice.shard, manifest.first, manifest.end, manifest.items
                ),
            ));
        }
        let report = ConvertReport {
            from: plan.dataset.format.name,
            to: plan.target,
            items: plan.dataset.items.len(),
            written: log.len(),
            skipped: self.skipped,
            losses,
            warnings,
            mapping: Vec::new(),
            instances: Vec::new(),
            shard: Some(ShardPart {
                index: manifest.shard,
                count: manifest.shards,
                first: manifest.first,
                end: manifest.end,
                chosen_by: choice.chosen_by,
            }),
        };
        (report, Some((manifest, log)))
    }
}

/// Writes a shard's item log and manifest into `sink`, the manifest with
/// what `--map` and `--instances` did to its items (from `report`).
pub(super) fn write_shard_files(
    sink: &mut dyn Sink,
    report: &ConvertReport,
    mut manifest: Manifest,
    log: ItemLog,
) -> Result<()> {
    manifest.mapping = report.mapping.clone();
    manifest.instances = report.instances.clone();
    log.write(sink)?;
    let text = serde_json::to_string_pretty(&manifest).expect("JSON to memory") + "\n";
    sink.write_file(MANIFEST, text.as_bytes())
}
