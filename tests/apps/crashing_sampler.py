"""A sampler that crashes inside ``study.ask()`` from the second trial on (a zombie test)."""

from optuna.samplers import RandomSampler


class CrashOnSecondTrial(RandomSampler):
    def sample_independent(self, study, trial, param_name, param_distribution):
        if trial.number >= 1:
            raise RuntimeError("sampler crash inside ask()")
        return super().sample_independent(study, trial, param_name, param_distribution)
