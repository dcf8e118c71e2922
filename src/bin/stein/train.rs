//! `stein train`: one path for every kind of model. The flags pick a recipe and change it
//! ([`stein::models::recipe::Recipe`]), the data are loaded, the recipe builds a trainer (or a checkpoint
//! gives one back), and only then is a folder claimed; then the library's one training loop, then the
//! samples, pictures and summary of [`crate::finish`].

use crate::args::TrainArgs;
use crate::choices::ModelArg;
use crate::data::data_and_reference;
use crate::error::CliError;
use crate::finish::{self, Sampler};
use crate::lifecycle::{steps_line, Claimed, Dest};
use crate::output::{check_run_dir, Stdout};
use crate::resume;
use clap::parser::ValueSource;
use clap::ArgMatches;
use std::path::Path;
use stein::autodiff::Tensor;
use stein::models::fit::{FitOptions, Trainer};
use stein::models::network::NetworkKind;
use stein::models::recipe::Recipe;

/// A run whose every input has been checked: nothing has been written yet.
struct Plan {
    trainer: Trainer,
    steps: usize,
    data: Tensor,
    reference: Tensor,
    sampler: Sampler,
    dest: Dest,
}

/// The recipe of the flags: the model's, changed by every flag given.
fn recipe(a: &TrainArgs) -> Result<Recipe, CliError> {
    let kind = a.model.kind();
    if kind != NetworkKind::Diffusion {
        let flag = [("sde", a.sde.is_some()), ("t-min", a.t_min.is_some())]
            .into_iter()
            .find(|f| f.1);
        if let Some((flag, _)) = flag {
            return Err(CliError::Usage(format!(
                "--{flag} applies to --model diffusion and --model flow only"
            )));
        }
    }
    let mut r = a.model.recipe();
    if let Some(c) = a.coupling {
        if a.model != ModelArg::Flow {
            return Err(CliError::Usage(
                "--coupling applies to --model flow only".into(),
            ));
        }
        r.objective = c.objective().into();
    }
    if let Some(sde) = a.sde {
        r.sde = sde.kind();
    }
    r.t_min = a.t_min;
    if let Some(h) = &a.hidden {
        r.hidden = h.clone();
    }
    if let Some(act) = a.activation {
        r.activation = act.activation();
    }
    if let Some(l) = &a.loss {
        r.objective = l.clone();
    }
    if let Some(b) = a.batch {
        r.batch = b;
    }
    if let Some(lr) = a.lr {
        r.lr = lr;
    }
    if let Some(p) = a.precision {
        r.precision = p.precision();
    }
    if let Some(d) = a.ema {
        r.ema = Some(d);
    }
    r.standardize = !a.no_standardize;
    if let Some(s) = a.steps {
        r.steps = s;
    }
    Ok(r)
}

impl Plan {
    fn new(a: &TrainArgs, m: &ArgMatches) -> Result<Plan, CliError> {
        let given = |id: &str| m.value_source(id) == Some(ValueSource::CommandLine);
        let (mut trainer, mut steps, dest, data, reference) = match &a.resume {
            Some(dir) => {
                let (trainer, steps) = resumed(a, dir, &given)?;
                let (data, reference) = data_and_reference(&trainer.data, a.seed, a.samples)?;
                (trainer, steps, Dest::Resume(dir.clone()), data, reference)
            }
            None => {
                let r = recipe(a)?;
                if let Some(o) = &a.out {
                    check_run_dir(o, a.force)?;
                }
                let (data, reference) = data_and_reference(&a.data, a.seed, a.samples)?;
                let mut trainer = r.build(&data, a.seed)?;
                trainer.data = a.data.clone();
                let dest = match &a.out {
                    Some(o) => Dest::Out(o.clone()),
                    None => Dest::New(a.data.replace(['/', '.', '\\'], "_")),
                };
                (trainer, r.steps, dest, data, reference)
            }
        };
        if data.cols() != trainer.network.dim() {
            return Err(CliError::Usage(format!(
                "--data {}: its points now have {} columns; the run was trained on {}",
                trainer.data,
                data.cols(),
                trainer.network.dim()
            )));
        }
        if let Some(budget) = a.time {
            let n = trainer.steps_in(&data, budget)?;
            if a.resume.is_none() {
                trainer.settings.schedule = Recipe::schedule(n);
            }
            steps = trainer.step + n;
        }
        let sampler = Sampler::for_network(a.sampler, &trainer.network)?;
        Ok(Plan {
            trainer,
            steps,
            data,
            reference,
            sampler,
            dest,
        })
    }
}

/// A run continued from `dir`'s checkpoint and its new total; flags that would change it are refused.
fn resumed(
    a: &TrainArgs,
    dir: &Path,
    given: &dyn Fn(&str) -> bool,
) -> Result<(Trainer, usize), CliError> {
    let ck = resume::checkpoint_of(dir)?;
    let trainer = Trainer::resume(&ck)?;
    let kept = resume::Kept {
        trainer: &trainer,
        step: trainer.step,
        target: trainer.target_steps,
    };
    resume::refuse_changes(a, given, dir, &kept)?;
    let total = resume::total_steps(a, given, dir, &kept)?;
    Ok((trainer, total))
}

pub fn run(a: &TrainArgs, m: &ArgMatches, out: &mut Stdout) -> Result<(), CliError> {
    let Plan {
        mut trainer,
        steps,
        data,
        reference,
        sampler,
        dest,
    } = Plan::new(a, m)?;
    let claimed = Claimed::new(dest)?;
    let dir = claimed.dir.clone();
    let from_step = trainer.step;
    let opts = FitOptions::steps(steps).out(&dir).progress(!a.quiet);
    let report = trainer
        .fit(&data, &opts)
        .map_err(|e| claimed.training_failed(e.into()))?;
    trainer.to_file(false).save(dir.join("model.json"))?;
    let losses = stein::models::io::RunFolder::losses(&dir)?;
    let done = finish::Trained {
        trainer: &trainer,
        data: &data,
        reference: &reference,
        sampler,
        losses: &losses,
        train_seconds: report.seconds,
        samples: a.samples,
        view: a.view,
        progress: !a.quiet,
    };
    let lines =
        finish::finish(&done, &dir).map_err(|e| claimed.finishing_failed(e, trainer.step))?;
    out.line(format!("run folder   {}", dir.display()))?;
    out.line(steps_line(from_step, trainer.step, report.seconds))?;
    for l in lines {
        out.line(l)?;
    }
    Ok(())
}
