//! Which shard a run is when the command line does not say: a scheduler's
//! variables (a Slurm job array task, a Kubernetes Indexed Job).

use super::{Shard, ShardChoice};

/// The shard a run is, when the command line gives none: from the
/// scheduler's variables (`vars` reads one), with `count` from
/// `--shard-count` when the scheduler does not say. `None`: no scheduler
/// variable is set.
///
/// A Slurm array's tasks are numbered `MIN, MIN+STEP, …, MAX`: task `ID`
/// is shard `(ID − MIN) / STEP` of `SLURM_ARRAY_TASK_COUNT`; an array that
/// is not such a range (`--array=0,2,5`) is refused, since its shards
/// would not cover the items. So is a task running several processes
/// (`srun -n 4`): each would convert the same shard.
pub fn shard_from_env(
    vars: impl Fn(&str) -> Option<String>,
    count: Option<usize>,
) -> std::result::Result<Option<ShardChoice>, String> {
    let number = |name: &str| -> std::result::Result<Option<usize>, String> {
        vars(name)
            .map(|v| {
                v.trim()
                    .parse()
                    .map_err(|_| format!("{name}='{v}' is not a number"))
            })
            .transpose()
    };
    if let Some(task) = number("SLURM_ARRAY_TASK_ID")? {
        if number("SLURM_NTASKS")?.is_some_and(|n| n > 1) {
            return Err("SLURM_NTASKS is above 1: every process of the task would convert the same shard; run one maskconv per array task".into());
        }
        let first = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
        let step = number("SLURM_ARRAY_TASK_STEP")?.unwrap_or(1).max(1);
        let slurm_count = number("SLURM_ARRAY_TASK_COUNT")?;
        let count = count.or(slurm_count).ok_or(
            "SLURM_ARRAY_TASK_ID is set but not SLURM_ARRAY_TASK_COUNT: give --shard-count",
        )?;
        let offset = task
            .checked_sub(first)
            .filter(|o| o % step == 0)
            .ok_or("SLURM_ARRAY_TASK_ID is not MIN + a multiple of STEP")?;
        if let Some(last) = number("SLURM_ARRAY_TASK_MAX")?
            && (last - first.min(last)) / step + 1 != count
        {
            return Err(format!(
                "the Slurm array is not a range of {count} tasks (--array=0-{}): its tasks would not cover every item; give --shard K/N",
                count - 1
            ));
        }
        return Shard::new(offset / step, count)
            .map(|shard| Some(ShardChoice::new(shard, "SLURM_ARRAY_TASK_ID")));
    }
    if let Some(index) = number("JOB_COMPLETION_INDEX")? {
        let count = count
            .ok_or("JOB_COMPLETION_INDEX is set: give --shard-count N (the Job's completions)")?;
        return Shard::new(index, count)
            .map(|shard| Some(ShardChoice::new(shard, "JOB_COMPLETION_INDEX")));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name: &str| {
            (pairs.iter())
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    fn shard(index: usize, count: usize, by: &'static str) -> Option<ShardChoice> {
        Some(ShardChoice::new(Shard { index, count }, by))
    }

    #[test]
    fn a_slurm_array_task_is_its_position_in_the_array() {
        let from_one = env(&[
            ("SLURM_ARRAY_TASK_ID", "3"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_MAX", "4"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ]);
        assert_eq!(
            shard_from_env(from_one, None),
            Ok(shard(2, 4, "SLURM_ARRAY_TASK_ID"))
        );
        let stepped = env(&[
            ("SLURM_ARRAY_TASK_ID", "7"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_MAX", "9"),
            ("SLURM_ARRAY_TASK_STEP", "2"),
            ("SLURM_ARRAY_TASK_COUNT", "5"),
        ]);
        assert_eq!(
            shard_from_env(stepped, None),
            Ok(shard(3, 5, "SLURM_ARRAY_TASK_ID"))
        );
        let listed = env(&[
            ("SLURM_ARRAY_TASK_ID", "2"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_MAX", "5"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ]);
        assert!(
            shard_from_env(listed, None)
                .unwrap_err()
                .contains("not a range")
        );
        let several = env(&[("SLURM_ARRAY_TASK_ID", "0"), ("SLURM_NTASKS", "4")]);
        assert!(
            shard_from_env(several, Some(2))
                .unwrap_err()
                .contains("SLURM_NTASKS")
        );
    }

    #[test]
    fn an_indexed_job_needs_the_shard_count() {
        let k8s = env(&[("JOB_COMPLETION_INDEX", "1")]);
        assert!(
            shard_from_env(&k8s, None)
                .unwrap_err()
                .contains("--shard-count")
        );
        assert_eq!(
            shard_from_env(&k8s, Some(3)),
            Ok(shard(1, 3, "JOB_COMPLETION_INDEX"))
        );
        assert!(shard_from_env(env(&[("JOB_COMPLETION_INDEX", "3")]), Some(3)).is_err());
        assert_eq!(shard_from_env(env(&[]), Some(3)), Ok(None));
    }
}
