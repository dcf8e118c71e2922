//! One chain as a machine: its starting point, warm-up (step-size searches, dual averaging, metric windows),
//! the kernel's transitions and what is kept. Both drivers run this machine — the per-chain driver evaluates
//! each request at once, the batched driver gathers the requests of every chain into one pass — so warm-up
//! and bookkeeping, like the update rules, are written once.

use super::adapt::{Adaptation, StepSearch};
use super::draws::Chain;
use super::driver::{chain_rng, Config, Init};
use super::kernel::{Eval, Info, Kernel, Progress, State, Tunable};
use super::SampleError;
use rand::rngs::SmallRng;
use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};

/// Random starting points tried before a chain gives up (Stan's 100).
pub const MAX_INIT_TRIES: usize = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Evaluating the starting point.
    Start,
    /// Searching the step size.
    Search,
    /// Inside a transition.
    Move,
    Done,
}

/// A chain in progress.
pub(crate) struct ChainRun<K: Kernel> {
    chain: usize,
    rng: SmallRng,
    params: K::Params,
    work: K::Work,
    state: State,
    stage: Stage,
    /// Transitions completed.
    k: usize,
    warmup: usize,
    total: usize,
    thin: usize,
    adapt: Option<Adaptation>,
    search: Option<StepSearch>,
    /// Where another random start comes from after a bad one (`None` for given points: never redrawn, and
    /// not copied into every chain).
    redraw: Option<Init>,
    tries: usize,
    record_every: Option<usize>,
    out: Chain,
}

impl<K: Kernel> ChainRun<K> {
    /// Chain `chain` of the run `cfg` in dimension `dim` (the configuration is validated by the driver).
    pub fn new(cfg: &Config<K::Params>, chain: usize, dim: usize) -> Self {
        let mut rng = chain_rng(cfg.seed, chain);
        let x = start_point(&cfg.init, chain, dim, &mut rng);
        let adapt = (cfg.warmup > 0 && K::TARGET_ACCEPT.is_some())
            .then(|| Adaptation::new(&cfg.adapt, K::TARGET_ACCEPT, cfg.warmup, dim));
        let search = adapt
            .as_ref()
            .is_some_and(|a| a.search)
            .then(|| StepSearch::new(dim));
        let out = Chain::new(
            cfg.draws,
            cfg.params.step_size(),
            cfg.params.metric().clone(),
        );
        ChainRun {
            chain,
            rng,
            params: cfg.params.clone(),
            work: K::work(dim),
            state: State {
                x,
                log_p: None,
                score: vec![0.0; dim],
            },
            stage: Stage::Start,
            k: 0,
            warmup: cfg.warmup,
            total: cfg.warmup + cfg.draws * cfg.thin,
            thin: cfg.thin,
            adapt,
            search,
            redraw: (!matches!(cfg.init, Init::Points(_))).then(|| cfg.init.clone()),
            tries: 1,
            record_every: cfg.record_every,
            out,
        }
    }

    /// Transitions completed (warm-up included).
    pub fn transitions(&self) -> usize {
        self.k
    }

    /// Whether the chain has finished.
    pub fn is_done(&self) -> bool {
        self.stage == Stage::Done
    }

    /// The point the chain wants evaluated.
    pub fn point(&self) -> &[f64] {
        match self.stage {
            Stage::Move => K::point(&self.work),
            Stage::Search => self.search.as_ref().expect("searching").point(),
            Stage::Start | Stage::Done => &self.state.x,
        }
    }

    /// The noise level to evaluate [`ChainRun::point`] at.
    pub fn noise(&self) -> Option<f64> {
        match self.stage {
            Stage::Move => K::noise(&self.work, &self.params),
            _ => K::state_noise(&self.params),
        }
    }

    /// Take the target's value at [`ChainRun::point`] and go on to the next request (or finish).
    pub fn resume(&mut self, e: Eval<'_>) -> Result<(), SampleError> {
        self.out.n_grad += 1;
        match self.stage {
            Stage::Start => self.started(e),
            Stage::Search => {
                let s = self.search.as_mut().expect("searching");
                let m = self.params.metric();
                if let Progress::Done(_) = s.resume(&self.state, m, e, &mut self.rng) {
                    let eps = s.step();
                    self.params.set_step_size(K::Params::from_leapfrog(eps));
                    if let Some(a) = &mut self.adapt {
                        a.restart(eps);
                    }
                    self.begin_transition();
                }
                Ok(())
            }
            Stage::Move => {
                let p = K::resume(
                    &mut self.work,
                    &mut self.state,
                    &self.params,
                    e,
                    &mut self.rng,
                );
                if let Progress::Done(info) = p {
                    self.finished(info);
                }
                Ok(())
            }
            Stage::Done => Ok(()),
        }
    }

    /// The chain's output (after [`ChainRun::is_done`]).
    pub fn into_chain(mut self) -> Chain {
        self.out.step_size = self.params.step_size();
        self.out.metric = self.params.metric().clone();
        self.out
    }

    /// The starting point's value: keep it, try another random start, or stop with an error.
    fn started(&mut self, e: Eval<'_>) -> Result<(), SampleError> {
        self.state.log_p = e.log_p;
        self.state.score.copy_from_slice(e.score);
        if let Err(what) = self.state.check() {
            if let Some(init) = self.redraw.as_ref().filter(|_| self.tries < MAX_INIT_TRIES) {
                self.tries += 1;
                let d = self.state.x.len();
                self.state.x = start_point(init, self.chain, d, &mut self.rng);
                return Ok(());
            }
            return Err(SampleError::BadStart {
                chain: self.chain,
                reason: if self.tries > 1 {
                    format!(
                        "{what} at each of {} random starting points, the last",
                        self.tries
                    )
                } else {
                    format!("{what} at the starting point")
                },
                point: self.state.x.clone(),
            });
        }
        if self.record_every.is_some() {
            self.out.trajectory.push(self.state.x.clone());
        }
        if let Some(a) = &self.adapt {
            a.start(&self.state, &mut self.params);
        }
        if self.total == 0 {
            self.stage = Stage::Done;
        } else if self.search.is_some() {
            self.begin_search();
        } else {
            self.begin_transition();
        }
        Ok(())
    }

    fn begin_search(&mut self) {
        let eps = K::Params::to_leapfrog(self.params.step_size());
        let s = self.search.as_mut().expect("searching");
        s.begin(&self.state, self.params.metric(), eps, &mut self.rng);
        self.stage = Stage::Search;
    }

    fn begin_transition(&mut self) {
        self.stage = Stage::Move;
        match K::begin(&mut self.work, &self.state, &self.params, &mut self.rng) {
            Progress::Eval => {}
            Progress::Done(info) => self.finished(info),
        }
    }

    /// A transition finished: adapt (warm-up) or keep (sampling), then start the next one.
    fn finished(&mut self, info: Info) {
        let k = self.k;
        let mut search = false;
        let warm = k < self.warmup;
        if warm {
            if let Some(a) = &mut self.adapt {
                search = a.learn(
                    k,
                    info.accept_prob,
                    &self.state,
                    info.accepted,
                    &mut self.params,
                );
            }
        }
        let keep = !warm && (k - self.warmup).is_multiple_of(self.thin);
        self.out.record(info, &self.state.x, warm, keep);
        self.k += 1;
        if self.record_every.is_some_and(|r| self.k.is_multiple_of(r)) {
            self.out.trajectory.push(self.state.x.clone());
        }
        if self.k == self.total {
            self.stage = Stage::Done;
        } else if search {
            self.begin_search();
        } else {
            self.begin_transition();
        }
    }
}

/// A starting point: uniform on (−r, r)ᵈ, N(0, s² I), or the given points cycled over the chains.
pub(crate) fn start_point(init: &Init, chain: usize, dim: usize, rng: &mut SmallRng) -> Vec<f64> {
    match init {
        Init::Uniform { radius } => (0..dim)
            .map(|_| radius * (2.0 * rng.random::<f64>() - 1.0))
            .collect(),
        Init::Normal { scale } => (0..dim)
            .map(|_| scale * <StandardNormal as Distribution<f64>>::sample(&StandardNormal, rng))
            .collect(),
        Init::Points(p) => p[chain % p.len()].clone(),
        // resolved into points by `sample` before any chain starts (`sample_batched` refuses it)
        Init::Pathfinder => start_point(&Init::default(), chain, dim, rng),
    }
}
