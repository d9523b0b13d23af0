#!/usr/bin/env python3
"""Deterministic demo history for `lineage`: the three teams of DOMAIN.md.

Writes one `lineage.v1.Event` per line to stdout, in the proto3 JSON mapping
with the proto field names (snake_case), in arrival order:

    python3 deploy/demo/generate.py > deploy/demo/history.jsonl

Standard library only. The output is byte-for-byte reproducible: all
randomness comes from random.Random(42) (and Random(2026) for the October
remediation) and no wall-clock time is read.
Before printing, the generator checks every event against the service's
identifier and validation rules and the story's own consistency (a run starts
before its metrics and finishes after them, a model is registered after its
source run finished, references point at entities that already exist, every
move to PRODUCTION meets the model's promotion criteria in force then, the
versions STORY_CHECKS names miss exactly the criteria the story says, and
nothing ends the year in PRODUCTION missing its criteria), and refuses to
print anything if a check fails.
"""

import hashlib
import itertools
import json
import math
import re
import sys
from datetime import datetime, timedelta, timezone
from random import Random

RNG = Random(42)
# The remediation that follows the October incident draws from a generator
# of its own, so that adding it left every earlier value of the year (and
# the other workspaces, generated after this one) as it was.
REMEDIATION_RNG = Random(2026)
_SEQ = itertools.count()

# Producers.
TRAIN = "training-operator/2.3"
AIRFLOW = "data-pipeline/airflow"
DAGSTER = "data-pipeline/dagster-1.7"
REGISTRY = "model-registry/1.0"
DEPLOY = "deploy-system/4.1"
CLI = "lineage-cli/0.1"
DQ = "data-quality/1.2"
BACKFILL = "training-operator/2.4-backfill"


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

def at(s):
    """'2026-03-02 09:15' -> aware UTC datetime."""
    return datetime.strptime(s, "%Y-%m-%d %H:%M").replace(tzinfo=timezone.utc)


def rfc3339(dt):
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def sha256(*parts):
    return "sha256:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def commit(repo, label):
    """A stable, git-sha-looking code version."""
    return hashlib.sha1(f"{repo}\x1f{label}".encode()).hexdigest()


def prune(value):
    """Drops proto3 default values (empty strings, zero numbers, empty lists
    and maps), as the canonical JSON mapping does."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            v = prune(v)
            if v is None or v == "" or v == [] or v == {}:
                continue
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v == 0:
                continue
            out[k] = v
        return out
    if isinstance(value, list):
        return [prune(v) for v in value]
    return value


def curve(start, final, steps, noise, rate=0.45, rng=RNG):
    """A saturating training curve from `start` to exactly `final`."""
    denom = 1 - math.exp(-rate * (steps - 1))
    out = []
    for i in range(steps):
        frac = (1 - math.exp(-rate * i)) / denom
        v = start + (final - start) * frac
        if 0 < i < steps - 1:
            v += rng.gauss(0, noise)
        out.append(v)
    out[-1] = final
    return out


def ds(dataset, version):
    return {"dataset": dataset, "version": version}


def mv(model, version):
    return {"model": model, "version": version}


def art(run_id, name):
    return {"run_id": run_id, "name": name}


class Workspace:
    """Collects one workspace's events. Event ids are assigned at the end, in
    arrival order, as `<prefix>-NNNN`."""

    def __init__(self, name, prefix, bucket):
        self.name = name
        self.prefix = prefix
        self.bucket = bucket
        self.events = []

    def emit(self, when, producer, actor, kind, payload, arrival=None):
        self.events.append({
            "when": when,
            "arrival": arrival or when,
            "seq": next(_SEQ),
            "ws": self,
            "producer": producer,
            "actor": actor,
            "kind": kind,
            "payload": payload,
        })
        return when

    # --- entity helpers --------------------------------------------------

    def experiment(self, when, actor, name, description, tags=None):
        self.emit(when, CLI, actor, "experiment_created",
                  {"experiment": name, "description": description, "tags": tags or {}})

    def dataset(self, when, producer, actor, dataset, version, derived_from=(),
                produced_by=None, uri=None):
        uri = uri or f"{self.bucket}/datasets/{dataset}/{version}/"
        self.emit(when, producer, actor, "dataset_version_registered", {
            "dataset": dataset,
            "version": version,
            "uri": uri,
            "digest": sha256(self.name, "dataset", dataset, version),
            "derived_from": list(derived_from),
            "produced_by_run_id": produced_by,
        })

    def register(self, when, actor, model, version, source_run_id, artifact_name,
                 approval_notes, approved_by):
        self.emit(when, REGISTRY, actor, "model_registered", {
            "model": model,
            "version": version,
            "source_run_id": source_run_id,
            "artifact_name": artifact_name,
            "approval_notes": approval_notes,
            "approved_by": approved_by,
        })

    def stage(self, when, actor, model, version, stage, reason, approved_by):
        self.emit(when, REGISTRY, actor, "model_stage_changed", {
            "model": model,
            "version": version,
            "stage": stage,
            "reason": reason,
            "approved_by": approved_by,
        })

    def deploy(self, when, actor, model, version, endpoint, deployment):
        self.emit(when, DEPLOY, actor, "model_deployed", {
            "model": model,
            "version": version,
            "endpoint": endpoint,
            "deployment": deployment,
        })

    def tags(self, when, producer, actor, entity, tags):
        self.emit(when, producer, actor, "tags_set", {"entity": entity, "tags": tags})

    def flag(self, when, actor, entity, reason, severity, producer=DQ):
        self.emit(when, producer, actor, "entity_flagged",
                  {"entity": entity, "reason": reason, "severity": severity})

    def criteria(self, when, actor, model, *terms):
        """The promotion criteria of every version of `model` from now on
        (terms of the search filter language and the lineage terms, joined
        by `and`), replacing the model's earlier ones."""
        self.emit(when, CLI, actor, "promotion_criteria_set",
                  {"model": model, "criteria": " and ".join(terms)})

    # --- a whole run -----------------------------------------------------

    def run(self, *, run_id, experiment, start, minutes, actor, code_version, env,
            compute, name=None, params=None, tags=None, parent=None,
            datasets=(), artifacts_in=(), models_in=(), curves=None, steps=10,
            flush=4, outputs=(), status="COMPLETED", error=None, stop_after=None,
            late_params=None, producer=TRAIN, decimals=4):
        """Emits run_started, run_inputs_declared, metrics_logged (batched
        like a real training operator flushes them), params_logged,
        artifact_logged and run_finished. `curves` maps a metric key to its
        per-step values. A FAILED or CANCELED run stops after step
        `stop_after` and logs no artifacts. Returns the finish time and the
        last logged value of each metric."""
        end = start + timedelta(minutes=minutes)
        self.emit(start, producer, actor, "run_started", {
            "run_id": run_id,
            "experiment": experiment,
            "name": name or run_id,
            "parent_run_id": parent,
            "code_version": code_version,
            "environment": {"name": env[0], "version": env[1]},
            "compute_target": compute,
            "params": params or {},
            "tags": tags or {},
        })
        if datasets or artifacts_in or models_in:
            self.emit(start + timedelta(seconds=40), producer, actor, "run_inputs_declared", {
                "run_id": run_id,
                "datasets": list(datasets),
                "artifacts": list(artifacts_in),
                "models": list(models_in),
            })
        last = {}
        if curves:
            n = steps if stop_after is None else stop_after + 1
            span = (end - start - timedelta(minutes=5)) / steps
            step_time = [start + timedelta(minutes=2) + span * (i + 1) for i in range(n)]
            for lo in range(0, n, flush):
                batch = []
                for i in range(lo, min(lo + flush, n)):
                    for key, values in curves.items():
                        v = round(values[i], decimals)
                        last[key] = v
                        batch.append({"key": key, "value": v, "step": i,
                                      "timestamp": rfc3339(step_time[i])})
                flushed = step_time[min(lo + flush, n) - 1] + timedelta(seconds=20)
                self.emit(flushed, producer, actor, "metrics_logged",
                          {"run_id": run_id, "metrics": batch})
            tail = step_time[n - 1] + timedelta(seconds=30)
        else:
            tail = start + timedelta(minutes=1)
        if status != "COMPLETED":
            end = tail + timedelta(minutes=2)
        if late_params and status == "COMPLETED":
            self.emit(end - timedelta(seconds=90), producer, actor, "params_logged",
                      {"run_id": run_id, "params": late_params})
        if status == "COMPLETED":
            for i, (aname, kind, size) in enumerate(outputs):
                self.emit(end - timedelta(seconds=60 - 5 * i), producer, actor, "artifact_logged", {
                    "run_id": run_id,
                    "name": aname,
                    "uri": f"{self.bucket}/runs/{run_id}/{aname}",
                    "digest": sha256(self.name, "artifact", run_id, aname),
                    "kind": kind,
                    "size_bytes": size,
                })
        self.emit(end, producer, actor, "run_finished",
                  {"run_id": run_id, "status": status, "error": error})
        return end, last


def mb(lo, hi, rng=RNG):
    return rng.randint(int(lo * 1024 * 1024), int(hi * 1024 * 1024))


def run_ref(run_id):
    return {"kind": "RUN", "name": run_id}


def dataset_ref(name, version):
    return {"kind": "DATASET_VERSION", "name": name, "version": version}


def model_ref(name, version):
    return {"kind": "MODEL_VERSION", "name": name, "version": version}


# ---------------------------------------------------------------------------
# 1. credit-lender: explainable, reproducible credit-risk promotions
# ---------------------------------------------------------------------------

def credit_lender():
    w = Workspace("credit-lender", "lender", "s3://credit-lender-ml")
    lead = "amara.osei@credit-lender.example"
    ds_ = "tomas.keller@credit-lender.example"
    ds2 = "li.wen@credit-lender.example"
    mro = "helena.brandt@credit-lender.example"  # model risk officer
    cro = "marc.dubois@credit-lender.example"    # chief risk officer
    airflow = "svc-airflow@credit-lender.example"
    registry = "svc-model-registry@credit-lender.example"
    deployer = "svc-deploy@credit-lender.example"
    steward = "nadia.fischer@credit-lender.example"
    sk = ("sklearn", "1.4.2")
    xgb = ("xgboost", "2.0.3")
    pool = "cpu-pool-a"
    models_repo = "credit-risk-models"
    prep_repo = "credit-data-pipelines"
    endpoint = "credit-scoring-eu"

    w.experiment(at("2026-01-05 09:00"), lead, "credit-data-prep",
                 "Cleaning and feature pipelines feeding credit-risk models",
                 {"team": "credit-data", "owner": lead})
    w.experiment(at("2026-01-05 09:10"), lead, "credit-risk-2026",
                 "Probability-of-default models for EU retail lending, 2026 cycle",
                 {"team": "credit-risk", "owner": lead, "policy": "MRM-7 fairness_gap<0.05",
                  "primary_metric": "auc"})

    def prep(version, day, label, note):
        """raw@N lands, a prep run cleans it into applications@N."""
        t = at(f"{day} 01:30")
        w.dataset(t, AIRFLOW, airflow, "applications-raw", str(version),
                  uri=f"s3://credit-lender-landing/applications/{day}/")
        run_id = f"prep-applications-{version}"
        end, _ = w.run(
            run_id=run_id, experiment="credit-data-prep", start=t + timedelta(minutes=30),
            minutes=24, actor=airflow, producer=AIRFLOW,
            code_version=commit(prep_repo, label), env=sk, compute=pool,
            params={"dedupe_key": "application_id", "join": "applicant_id", "drop_test_accounts": "true"},
            tags={"dag": "applications_daily", "note": note},
            datasets=[ds("applications-raw", str(version))],
            outputs=[("profile.html", "report", mb(0.4, 1.2))])
        w.dataset(end + timedelta(minutes=1), AIRFLOW, airflow, "applications", str(version),
                  derived_from=[ds("applications-raw", str(version))], produced_by=run_id)

    def credit_curves(auc, ks, gap, loss, steps=10, rng=RNG):
        return {
            "auc": curve(0.5 + (auc - 0.5) * 0.45, auc, steps, 0.002, rng=rng),
            "ks": curve(ks * 0.4, ks, steps, 0.003, rng=rng),
            "fairness_gap": curve(gap * 1.6, gap, steps, 0.001, rng=rng),
            "log_loss": curve(0.62, loss, steps, 0.004, rng=rng),
        }

    def train(run_id, start, minutes, env, inputs, params, auc, ks, gap, loss, label,
              actor=ds_, tags=None, late=None, **kw):
        outputs = [("model.pkl", "model", mb(2, 40)), ("roc.png", "plot", mb(0.05, 0.2))]
        return w.run(run_id=run_id, experiment="credit-risk-2026", start=start, minutes=minutes,
                     actor=actor, code_version=commit(models_repo, label), env=env, compute=pool,
                     params=params, tags=tags or {"team": "credit-risk"}, datasets=inputs,
                     curves=credit_curves(auc, ks, gap, loss), outputs=outputs,
                     late_params=late, **kw)

    # --- Q1: baseline on applications@1 ------------------------------------
    prep(1, "2026-01-07", "v1.8.0", "initial 2026 extract")
    w.dataset(at("2026-01-09 06:00"), AIRFLOW, airflow, "bureau-scores", "1",
              uri="s3://credit-lender-landing/bureau/2026-01/")
    end, _ = train("cr-logreg-0112", at("2026-01-12 10:00"), 18, sk,
                   [ds("applications", "1")],
                   {"model": "logistic_regression", "C": "1.0", "penalty": "l2",
                    "class_weight": "balanced", "seed": "7"},
                   0.712, 0.31, 0.044, 0.548, "v0.1.0")
    # Model risk writes the MRM-7 policy down as the criteria every
    # credit-risk version must meet in production (the service checks it).
    w.criteria(at("2026-01-13 16:00"), mro, "credit-risk",
               "metrics.auc >= 0.7", "metrics.fairness_gap < 0.05", "status = 'COMPLETED'",
               "approved", "stages approved", "no flagged upstream")
    w.register(end + timedelta(days=2), registry, "credit-risk", "1", "cr-logreg-0112", "model.pkl",
               "Baseline scorecard-equivalent logistic regression; AUC 0.712 on holdout; "
               "replaces the spreadsheet scorecard.", mro)
    w.stage(at("2026-01-15 11:00"), registry, "credit-risk", "1", "STAGING",
            "Baseline for 2026 cycle; validation pack MRM-2026-01 submitted", mro)
    w.stage(at("2026-01-20 09:00"), registry, "credit-risk", "1", "PRODUCTION",
            "Validated by model risk; replaces manual scorecard", cro)
    w.deploy(at("2026-01-20 09:30"), deployer, "credit-risk", "1", endpoint, "rollout-cse-0001")

    # --- gradient boosting with bureau scores ------------------------------
    end, _ = train("cr-hgb-0203", at("2026-02-03 14:00"), 35, sk,
                   [ds("applications", "1"), ds("bureau-scores", "1")],
                   {"model": "hist_gradient_boosting", "learning_rate": "0.1", "max_depth": "6",
                    "max_iter": "300", "seed": "7"},
                   0.738, 0.35, 0.048, 0.521, "v0.2.0")
    w.register(end + timedelta(days=2), registry, "credit-risk", "2", "cr-hgb-0203", "model.pkl",
               "Adds bureau scores; AUC 0.738. Fairness gap 0.048 close to policy limit.", mro)
    w.stage(at("2026-02-06 10:00"), registry, "credit-risk", "2", "STAGING",
            "Candidate with bureau features", mro)

    # --- applications@2, xgboost (one OOM failure) ----------------------
    prep(2, "2026-03-02", "v1.9.0", "Q1 refresh")
    train("cr-xgb-0305", at("2026-03-05 13:00"), 40, xgb,
          [ds("applications", "2"), ds("bureau-scores", "1")],
          {"model": "xgboost", "lr": "0.1", "max_depth": "10", "n_estimators": "1200",
           "tree_method": "exact", "seed": "7"},
          0.75, 0.36, 0.05, 0.51, "v0.3.0", status="FAILED", stop_after=2,
          error="OOMKilled: container exceeded its 16Gi memory limit while building the DMatrix "
                "(tree_method=exact)")
    end, _ = train("cr-xgb-0306", at("2026-03-06 09:30"), 46, xgb,
                   [ds("applications", "2"), ds("bureau-scores", "1")],
                   {"model": "xgboost", "lr": "0.1", "max_depth": "6", "n_estimators": "400",
                    "tree_method": "hist", "seed": "7"},
                   0.754, 0.38, 0.046, 0.502, "v0.3.1",
                   late={"best_iteration": "371", "n_features": "142"})
    w.register(end + timedelta(days=3), registry, "credit-risk", "3", "cr-xgb-0306", "model.pkl",
               "XGBoost on applications@2 + bureau-scores@1; AUC 0.754, fairness gap 0.046.", mro)
    w.stage(at("2026-03-10 10:00"), registry, "credit-risk", "3", "STAGING",
            "Beats credit-risk@1 by 4.2 AUC points on holdout", mro)
    w.stage(at("2026-03-18 09:00"), registry, "credit-risk", "3", "PRODUCTION",
            "MRM-2026-03 approved; challenger won 2-week shadow", cro)
    w.deploy(at("2026-03-18 09:20"), deployer, "credit-risk", "3", endpoint, "rollout-cse-0002")
    w.stage(at("2026-03-18 09:40"), registry, "credit-risk", "1", "ARCHIVED",
            "Replaced in production by credit-risk@3", cro)
    w.stage(at("2026-03-20 16:00"), registry, "credit-risk", "2", "ARCHIVED",
            "Superseded by credit-risk@3", mro)

    # --- a fairness-constrained attempt that fails policy ---------------
    end, _ = train("cr-xgb-0414", at("2026-04-14 10:00"), 52, xgb,
                   [ds("applications", "2"), ds("bureau-scores", "1")],
                   {"model": "xgboost", "lr": "0.03", "max_depth": "8", "n_estimators": "800",
                    "tree_method": "hist", "seed": "11"},
                   0.761, 0.39, 0.061, 0.497, "v0.4.0", actor=ds2,
                   late={"best_iteration": "744", "n_features": "142"})
    w.register(end + timedelta(days=2), registry, "credit-risk", "4", "cr-xgb-0414", "model.pkl",
               "Deeper trees; AUC 0.761 but fairness gap 0.061 needs review.", mro)
    w.stage(at("2026-04-17 10:00"), registry, "credit-risk", "4", "STAGING",
            "For fairness review only", mro)
    w.tags(at("2026-04-21 15:00"), CLI, mro, model_ref("credit-risk", "4"),
           {"fairness_review": "failed", "review_ticket": "MRM-2026-04-17"})

    # --- bureau-scores@2, credit-risk@5 --------------------------------
    w.dataset(at("2026-05-04 06:00"), AIRFLOW, airflow, "bureau-scores", "2",
              uri="s3://credit-lender-landing/bureau/2026-05/")
    end, _ = train("cr-xgb-0511", at("2026-05-11 10:00"), 48, xgb,
                   [ds("applications", "2"), ds("bureau-scores", "2")],
                   {"model": "xgboost", "lr": "0.03", "max_depth": "6", "n_estimators": "600",
                    "tree_method": "hist", "seed": "11"},
                   0.768, 0.40, 0.043, 0.489, "v0.5.0",
                   late={"best_iteration": "588", "n_features": "151"})
    w.register(end + timedelta(days=2), registry, "credit-risk", "5", "cr-xgb-0511", "model.pkl",
               "Refreshed bureau-scores@2; AUC 0.768, fairness gap 0.043 within policy.", mro)
    w.stage(at("2026-05-14 10:00"), registry, "credit-risk", "5", "STAGING",
            "Within MRM-7 fairness policy, +1.4 AUC over production", mro)
    w.stage(at("2026-05-21 09:00"), registry, "credit-risk", "5", "PRODUCTION",
            "MRM-2026-05 approved", cro)
    w.deploy(at("2026-05-21 09:15"), deployer, "credit-risk", "5", endpoint, "rollout-cse-0003")
    w.stage(at("2026-05-21 09:30"), registry, "credit-risk", "3", "ARCHIVED",
            "Replaced in production by credit-risk@5", cro)
    w.stage(at("2026-05-25 11:00"), registry, "credit-risk", "4", "ARCHIVED",
            "Fairness gap 0.061 exceeds the 0.05 policy limit (MRM-7)", mro)

    # MRM-7 rev 2: with @5 at AUC 0.768 in production, the floor rises to
    # 0.75 and a KS floor joins it; @5 still meets them.
    w.criteria(at("2026-05-28 15:00"), mro, "credit-risk",
               "metrics.auc >= 0.75", "metrics.ks >= 0.35", "metrics.fairness_gap < 0.05",
               "status = 'COMPLETED'", "approved", "stages approved", "no flagged upstream")

    # --- applications@3 (the bad join ships here) and features@3 -------
    prep(3, "2026-06-01", "v2.0.0-cojoin", "adds co-applicant join")
    feat_start = at("2026-06-02 03:00")
    end, _ = w.run(
        run_id="feat-applications-3", experiment="credit-data-prep", start=feat_start,
        minutes=31, actor=airflow, producer=AIRFLOW,
        code_version=commit(prep_repo, "features-v1.2.0"), env=sk, compute=pool,
        params={"feature_set": "pd-v4", "bureau_join": "applicant_id", "window_months": "24"},
        tags={"dag": "applications_features"},
        datasets=[ds("applications", "3"), ds("bureau-scores", "2")],
        outputs=[("feature_stats.json", "report", mb(0.1, 0.3))])
    w.dataset(end + timedelta(minutes=1), AIRFLOW, airflow, "applications-features", "3",
              derived_from=[ds("applications", "3"), ds("bureau-scores", "2")],
              produced_by="feat-applications-3")

    end, _ = train("cr-xgb-0608", at("2026-06-08 10:00"), 44, xgb,
                   [ds("applications-features", "3")],
                   {"model": "xgboost", "lr": "0.03", "max_depth": "6", "n_estimators": "600",
                    "tree_method": "hist", "feature_set": "pd-v4", "seed": "11"},
                   0.781, 0.42, 0.042, 0.478, "v0.6.0",
                   late={"best_iteration": "571", "n_features": "188"})
    w.register(end + timedelta(days=2), registry, "credit-risk", "6", "cr-xgb-0608", "model.pkl",
               "First model on applications-features@3 (pd-v4); AUC 0.781.", mro)
    w.stage(at("2026-06-11 10:00"), registry, "credit-risk", "6", "STAGING",
            "Feature set pd-v4 candidate; hyperparameters to be tuned by sweep", mro)

    # --- the July sweep: parent + 16 trials ---------------------------------
    sweep = "cr-sweep-0706"
    sweep_start = at("2026-07-06 09:00")
    code = commit(models_repo, "v0.7.0")
    w.emit(sweep_start, TRAIN, ds_, "run_started", {
        "run_id": sweep, "experiment": "credit-risk-2026", "name": "xgb-pd-v4-sweep",
        "code_version": code, "environment": {"name": "xgboost", "version": "2.0.3"},
        "compute_target": pool,
        "params": {"search": "random", "n_trials": "16", "objective": "auc",
                   "constraint": "fairness_gap<0.05", "max_parallel": "4"},
        "tags": {"team": "credit-risk", "kind": "sweep"},
    })
    w.emit(sweep_start + timedelta(seconds=40), TRAIN, ds_, "run_inputs_declared",
           {"run_id": sweep, "datasets": [ds("applications-features", "3")]})

    lrs = ["0.1", "0.03", "0.01", "0.003"] * 4
    RNG.shuffle(lrs)
    lr_eff = {"0.1": -0.012, "0.03": 0.0, "0.01": -0.004, "0.003": -0.02}
    depth_eff = {"3": -0.012, "4": -0.005, "6": 0.0, "8": -0.006}
    fail_idx, cancel_idx = 9, 14
    trials = []
    for i in range(1, 17):
        lr = lrs[i - 1]
        depth = RNG.choice(["3", "4", "6", "8"])
        n_est = RNG.choice(["200", "400", "800"])
        params = {"lr": lr, "max_depth": depth, "n_estimators": n_est,
                  "subsample": RNG.choice(["0.7", "0.8", "1.0"]),
                  "colsample_bytree": RNG.choice(["0.6", "0.8", "1.0"]),
                  "min_child_weight": RNG.choice(["1", "5"]),
                  "tree_method": "hist", "feature_set": "pd-v4", "seed": "11"}
        if float(lr) <= 0.01:
            n_eff = {"200": -0.015, "400": -0.007, "800": 0.0}[n_est]
        else:
            n_eff = {"200": -0.004, "400": 0.0, "800": -0.002}[n_est]
        auc = 0.797 + lr_eff[lr] + depth_eff[depth] + n_eff + RNG.gauss(0, 0.002)
        gap = 0.036 + 0.002 * int(depth) + RNG.gauss(0, 0.002)
        loss = 0.478 - (auc - 0.78) * 1.4 + RNG.gauss(0, 0.002)
        ks = 2 * auc - 1.14 + RNG.gauss(0, 0.004)
        run_id = f"{sweep}-t{i:02d}"
        t0 = sweep_start + timedelta(minutes=5) + timedelta(minutes=55) * ((i - 1) // 4) \
            + timedelta(minutes=3 * ((i - 1) % 4))
        kw = {}
        if i == fail_idx:
            kw = {"status": "FAILED", "stop_after": 3,
                  "error": "worker lost: node cpu-pool-a-17 drained for maintenance (exit 143)"}
        elif i == cancel_idx:
            kw = {"status": "CANCELED", "stop_after": 4,
                  "error": "stopped early by the sweep controller (median stopping rule at step 4)"}
        end, last = w.run(
            run_id=run_id, experiment="credit-risk-2026", start=t0,
            minutes=RNG.randint(32, 50), actor=ds_, code_version=code, env=xgb, compute=pool,
            parent=sweep, name=f"trial-{i:02d}", params=params,
            tags={"team": "credit-risk", "kind": "trial"},
            datasets=[ds("applications-features", "3")],
            curves=credit_curves(auc, ks, gap, loss),
            outputs=[("model.pkl", "model", mb(4, 60)), ("roc.png", "plot", mb(0.05, 0.2))],
            late_params={"best_iteration": str(int(int(n_est) * RNG.uniform(0.8, 0.99)))}, **kw)
        trials.append({"run_id": run_id, "start": t0, "end": end, "last": last, "params": params,
                       "status": kw.get("status", "COMPLETED")})
    ok = [t for t in trials if t["status"] == "COMPLETED" and t["last"]["fairness_gap"] < 0.05]
    best = max(ok, key=lambda t: t["last"]["auc"])
    sweep_end = max(t["end"] for t in trials) + timedelta(minutes=4)
    w.emit(sweep_end - timedelta(minutes=1), TRAIN, ds_, "metrics_logged", {
        "run_id": sweep, "metrics": [
            {"key": "best_auc", "value": best["last"]["auc"], "timestamp": rfc3339(sweep_end - timedelta(minutes=1))},
            {"key": "completed_trials", "value": float(sum(t["status"] == "COMPLETED" for t in trials)),
             "timestamp": rfc3339(sweep_end - timedelta(minutes=1))},
        ]})
    w.emit(sweep_end, TRAIN, ds_, "run_finished", {"run_id": sweep, "status": "COMPLETED"})
    b = best["last"]
    w.tags(sweep_end + timedelta(hours=20), CLI, lead, run_ref(best["run_id"]),
           {"selected": "true", "selection_rule": "max auc subject to fairness_gap < 0.05"})
    w.tags(sweep_end + timedelta(hours=20, minutes=2), CLI, lead, run_ref(sweep),
           {"best_trial": best["run_id"]})

    # --- credit-risk@7 from the best trial --------------------------------
    w.register(at("2026-07-10 11:00"), registry, "credit-risk", "7", best["run_id"], "model.pkl",
               f"Best trial of {sweep}: AUC {b['auc']:.3f}, KS {b['ks']:.3f}, fairness gap "
               f"{b['fairness_gap']:.3f} (policy < 0.05), log loss {b['log_loss']:.3f}. "
               f"lr={best['params']['lr']}, max_depth={best['params']['max_depth']}, "
               f"n_estimators={best['params']['n_estimators']}. Reproducible from code version "
               f"{code[:12]} on applications-features@3.", mro)
    w.stage(at("2026-07-14 10:00"), registry, "credit-risk", "7", "STAGING",
            f"Sweep winner, +{(b['auc'] - 0.768) * 100:.1f} AUC points over production credit-risk@5",
            mro)
    w.deploy(at("2026-07-28 08:00"), deployer, "credit-risk", "7", "credit-scoring-eu-shadow",
             "rollout-cses-0001")
    w.stage(at("2026-08-12 09:00"), registry, "credit-risk", "7", "PRODUCTION",
            "Two-week shadow: live AUC 0.79 vs 0.77 for credit-risk@5; fairness gap within "
            "MRM-7; MRM-2026-08 approved", cro)
    w.deploy(at("2026-08-12 09:20"), deployer, "credit-risk", "7", endpoint, "rollout-cse-0004")
    w.stage(at("2026-08-12 09:40"), registry, "credit-risk", "5", "ARCHIVED",
            "Replaced in production by credit-risk@7", cro)
    w.stage(at("2026-08-12 09:45"), registry, "credit-risk", "6", "ARCHIVED",
            "Superseded by credit-risk@7 (same features, tuned)", mro)

    # --- Q3 fairness audit of the production model -----------------------
    audit = "cr-fairness-audit-2026q3"
    end, _ = w.run(
        run_id=audit, experiment="credit-risk-2026", start=at("2026-09-15 13:00"), minutes=26,
        actor=mro, code_version=commit(models_repo, "audit-v1.1"), env=sk, compute=pool,
        params={"protected_attributes": "age_band,gender", "threshold": "0.18"},
        tags={"team": "model-risk", "kind": "audit"},
        datasets=[ds("applications-features", "3")], models_in=[mv("credit-risk", "7")],
        curves={"auc": [b["auc"] - 0.004], "fairness_gap": [b["fairness_gap"] + 0.002]},
        steps=1, outputs=[("fairness_report.html", "report", mb(0.8, 2))])
    w.tags(end + timedelta(hours=2), CLI, mro, model_ref("credit-risk", "7"),
           {"audit": "2026-Q3-passed", "audit_run": audit})

    # --- late correction: an undeclared input -------------------------------
    # Code version v0.7.0 also read bureau-scores@2 directly (score
    # calibration), which the sweep controller never declared. The Q3 audit
    # found it; the 2.4 backfill re-declares the selected trial's inputs. It
    # arrives in October but happened in July, so "as of" queries by
    # knowledge time and by event time differ for credit-risk@7.
    w.emit(best["start"] + timedelta(seconds=50), BACKFILL, "svc-training@credit-lender.example",
           "run_inputs_declared",
           {"run_id": best["run_id"],
            "datasets": [ds("applications-features", "3"), ds("bureau-scores", "2")]},
           arrival=at("2026-10-05 10:00"))

    # --- the incident: applications@3 is corrupt ------------------------
    bad = commit(prep_repo, "v2.0.0-cojoin")[:9]
    w.flag(at("2026-10-19 16:20"), steward, dataset_ref("applications", "3"),
           f"Bad join in prep job (commit {bad}): joining co-applicants on applicant_id "
           "duplicated 3.8% of rows, double-counting defaults in the training labels. "
           "Incident DQ-2026-114.", "HIGH")
    w.tags(at("2026-10-19 16:25"), CLI, steward, dataset_ref("applications", "3"),
           {"quality": "quarantined", "incident": "DQ-2026-114"})
    w.tags(at("2026-10-20 09:00"), CLI, lead, model_ref("credit-risk", "7"),
           {"incident": "DQ-2026-114", "revalidation": "pending"})

    # --- remediation: applications@4, a retrained credit-risk@8 ----------
    # credit-risk@7 is now in production without meeting its criteria (no
    # flagged upstream). raw@3 is cleaned again with the join fixed, the
    # features rebuilt, the selected trial's configuration retrained on
    # them, and the result promoted in @7's place.
    rr = REMEDIATION_RNG
    fix = commit(prep_repo, "v2.0.1-cojoin-fix")
    end, _ = w.run(
        run_id="prep-applications-4", experiment="credit-data-prep", start=at("2026-10-21 02:00"),
        minutes=27, actor=airflow, producer=AIRFLOW, code_version=fix, env=sk, compute=pool,
        params={"dedupe_key": "application_id", "join": "applicant_id,co_applicant_id",
                "drop_test_accounts": "true"},
        tags={"dag": "applications_daily", "note": "re-clean of raw@3 with the co-applicant join fixed",
              "incident": "DQ-2026-114"},
        datasets=[ds("applications-raw", "3")],
        outputs=[("profile.html", "report", mb(0.4, 1.2, rng=rr))])
    w.dataset(end + timedelta(minutes=1), AIRFLOW, airflow, "applications", "4",
              derived_from=[ds("applications-raw", "3")], produced_by="prep-applications-4")
    w.tags(end + timedelta(hours=6), CLI, steward, dataset_ref("applications", "4"),
           {"quality": "validated", "incident": "DQ-2026-114", "duplicate_rows": "0"})
    end, _ = w.run(
        run_id="feat-applications-4", experiment="credit-data-prep", start=at("2026-10-21 09:00"),
        minutes=33, actor=airflow, producer=AIRFLOW,
        code_version=commit(prep_repo, "features-v1.2.0"), env=sk, compute=pool,
        params={"feature_set": "pd-v4", "bureau_join": "applicant_id", "window_months": "24"},
        tags={"dag": "applications_features"},
        datasets=[ds("applications", "4"), ds("bureau-scores", "2")],
        outputs=[("feature_stats.json", "report", mb(0.1, 0.3, rng=rr))])
    w.dataset(end + timedelta(minutes=1), AIRFLOW, airflow, "applications-features", "4",
              derived_from=[ds("applications", "4"), ds("bureau-scores", "2")],
              produced_by="feat-applications-4")

    retrain = "cr-xgb-1022"
    # The deduplicated labels cost a little AUC: the duplicated defaults were
    # easy to score. The gap is measured on the corrected protected groups.
    r_auc = round(b["auc"] - 0.0031, 4)
    r_ks = round(b["ks"] - 0.004, 4)
    r_gap = round(b["fairness_gap"] - 0.0022, 4)
    r_loss = round(b["log_loss"] + 0.0041, 4)
    end, r_last = w.run(
        run_id=retrain, experiment="credit-risk-2026", start=at("2026-10-22 10:00"), minutes=47,
        actor=ds_, code_version=commit(models_repo, "v0.7.1"), env=xgb, compute=pool,
        name="retrain-t08-applications-4", params=dict(best["params"]),
        tags={"team": "credit-risk", "kind": "retrain", "retrain_of": best["run_id"],
              "incident": "DQ-2026-114"},
        # v0.7.1 declares the bureau-scores read that v0.7.0 left out.
        datasets=[ds("applications-features", "4"), ds("bureau-scores", "2")],
        curves=credit_curves(r_auc, r_ks, r_gap, r_loss, rng=rr),
        outputs=[("model.pkl", "model", mb(4, 60, rng=rr)), ("roc.png", "plot", mb(0.05, 0.2, rng=rr))],
        late_params={"best_iteration": str(int(int(best["params"]["n_estimators"]) * 0.93))})
    w.register(at("2026-10-26 11:00"), registry, "credit-risk", "8", retrain, "model.pkl",
               f"Retrain of {best['run_id']} (credit-risk@7) on applications-features@4, built from "
               f"applications@4 with the co-applicant join fixed (DQ-2026-114). AUC {r_last['auc']:.3f}, "
               f"KS {r_last['ks']:.3f}, fairness gap {r_last['fairness_gap']:.3f}; same hyperparameters.",
               mro)
    w.stage(at("2026-10-27 10:00"), registry, "credit-risk", "8", "STAGING",
            "Replacement for credit-risk@7, whose training data is quarantined (DQ-2026-114)", mro)
    w.deploy(at("2026-10-27 14:00"), deployer, "credit-risk", "8", "credit-scoring-eu-shadow",
             "rollout-cses-0002")
    w.stage(at("2026-11-10 09:00"), registry, "credit-risk", "8", "PRODUCTION",
            "Two-week shadow on deduplicated data; meets MRM-7 rev 2 with no flagged upstream; "
            "MRM-2026-11 approved", cro)
    w.deploy(at("2026-11-10 09:20"), deployer, "credit-risk", "8", endpoint, "rollout-cse-0005")
    w.stage(at("2026-11-10 09:40"), registry, "credit-risk", "7", "ARCHIVED",
            "Replaced by credit-risk@8: trained on flagged applications@3 (DQ-2026-114)", cro)
    w.tags(at("2026-11-10 10:00"), CLI, lead, model_ref("credit-risk", "7"),
           {"revalidation": "replaced by credit-risk@8"})
    return w


# ---------------------------------------------------------------------------
# 2. agri-yield: regional crop-yield models, environment drift, GPU spend
# ---------------------------------------------------------------------------

def agri_yield():
    w = Workspace("agri-yield", "agri", "gs://agri-yield-ml")
    platform = "jonas.berg@agri-yield.example"
    owners = {"emea": "sofia.marin@agri-yield.example",
              "apac": "kenji.sato@agri-yield.example",
              "amer": "diego.alvarez@agri-yield.example"}
    approver = "ruth.adeyemi@agri-yield.example"
    pipeline = "svc-dagster@agri-yield.example"
    registry = "svc-registry@agri-yield.example"
    deployer = "svc-deploy@agri-yield.example"
    sk = ("sklearn", "1.4.2")
    old_env, new_env = ("pytorch", "2.3.1"), ("pytorch", "2.4.0")

    w.experiment(at("2026-01-12 08:00"), platform, "yield-features-pipeline",
                 "Feature builds joining field sensors and weather",
                 {"team": "agri-platform"})
    for crop in ("wheat", "maize"):
        w.experiment(at("2026-01-12 08:05") + timedelta(minutes=5 if crop == "maize" else 0),
                     platform, f"crop-yield-{crop}",
                     f"Regional {crop} yield forecasts (t/ha) per field",
                     {"team": "agri-ds", "crop": crop, "unit": "t/ha"})

    # Monthly sensor snapshots, weather releases.
    for month in range(1, 10):
        v = f"2026-{month:02d}"
        day = at(f"2026-{month + 1:02d}-01 04:00")
        w.dataset(day, DAGSTER, pipeline, "field-sensors", v,
                  uri=f"gs://agri-yield-lake/field-sensors/{v}/")
    for v, day in (("v10", "2026-01-20"), ("v11", "2026-04-15"), ("v12", "2026-07-20"),
                   ("v13", "2026-10-12")):
        w.dataset(at(f"{day} 05:00"), DAGSTER, pipeline, "weather-daily", v,
                  uri=f"gs://agri-yield-lake/weather-daily/{v}/")

    def features(release, day, sensors, weather):
        run_id = f"build-yield-features-{release}"
        end, _ = w.run(
            run_id=run_id, experiment="yield-features-pipeline", start=at(f"{day} 06:00"),
            minutes=55, actor=pipeline, producer=DAGSTER,
            code_version=commit("yield-features", release), env=sk, compute="cpu-spot-pool",
            params={"sensor_window": "2019-01..2026-" + sensors[-2:], "grid": "5km"},
            tags={"release": release},
            datasets=[ds("field-sensors", sensors), ds("weather-daily", weather)],
            outputs=[("feature_manifest.json", "manifest", mb(0.01, 0.05))])
        w.dataset(end + timedelta(minutes=2), DAGSTER, pipeline, "yield-features", release,
                  derived_from=[ds("field-sensors", sensors), ds("weather-daily", weather)],
                  produced_by=run_id)

    base_rmse = {"wheat": 0.62, "maize": 0.98}
    region_eff = {"emea": 0.97, "apac": 1.04, "amer": 1.0}
    round_eff = {"r1": 1.0, "r2": 0.93, "r3": 0.88}
    runs = {}

    def train(crop, region, release, start, env, compute, seq, status="COMPLETED",
              stop_after=None, error=None, tags_extra=None):
        run_id = f"{crop}-{region}-{release}-{seq}"
        rmse = base_rmse[crop] * region_eff[region] * round_eff[release] * RNG.uniform(0.98, 1.02)
        if env == new_env:
            rmse *= 1.08  # the drift the flag below is about
        mae = rmse * RNG.uniform(0.76, 0.8)
        r2 = 1 - (rmse / (base_rmse[crop] * 1.75)) ** 2
        minutes = RNG.randint(70, 150) if compute == "gpu-a100-pool" else RNG.randint(160, 260)
        window = {"r1": "2019-01..2026-02", "r2": "2019-01..2026-05",
                  "r3": "2019-01..2026-07"}[release]
        tags = {"region": region, "crop": crop, "data_window": window,
                "cost_center": f"agri-{region}-ds"}
        tags.update(tags_extra or {})
        end, last = w.run(
            run_id=run_id, experiment=f"crop-yield-{crop}", start=start, minutes=minutes,
            actor=owners[region], code_version=commit("crop-yield", f"{region}-{release}"),
            env=env, compute=compute, name=f"{crop}-{region}-{release}",
            params={"arch": "tft", "hidden_size": RNG.choice(["64", "128"]),
                    "lr": RNG.choice(["0.001", "0.0003"]), "epochs": "10",
                    "batch_size": RNG.choice(["256", "512"]), "loss": "huber"},
            tags=tags, datasets=[ds("yield-features", release)],
            curves={"rmse": curve(rmse * 2.1, rmse, 10, rmse * 0.01),
                    "mae": curve(mae * 2.1, mae, 10, mae * 0.01),
                    "r2": curve(0.05, r2, 10, 0.005)},
            flush=5, status=status, stop_after=stop_after, error=error,
            outputs=[("model.pt", "model", mb(20, 90)), ("residuals.png", "plot", mb(0.1, 0.4))])
        gpu_h = (end - start).total_seconds() / 3600 * (1 if compute == "gpu-a100-pool" else 0.35)
        w.tags(end + timedelta(minutes=10), "cost-exporter/0.4", "svc-cost@agri-yield.example",
               run_ref(run_id), {"gpu_hours": f"{gpu_h:.2f}",
                                 "gpu_cost_usd": f"{gpu_h * (3.9 if compute == 'gpu-a100-pool' else 1.1):.2f}"})
        runs[run_id] = {"end": end, "last": last, "env": env}
        return run_id

    def round_(release, day, envs, computes, cancel=None):
        t = at(f"{day} 07:00")
        ids = {}
        for k, (crop, region) in enumerate(itertools.product(("wheat", "maize"), ("emea", "apac", "amer"))):
            kw = {}
            if cancel == (crop, region):
                kw = {"status": "CANCELED", "stop_after": 5,
                      "error": "spot instance preempted (gpu-t4-spot); checkpoint kept, run not resumed",
                      "tags_extra": {"preempted": "true"}}
            ids[(crop, region)] = train(crop, region, release, t + timedelta(minutes=37 * k),
                                        envs[region], computes[region], "01", **kw)
        return ids

    envs_old = {"emea": old_env, "apac": old_env, "amer": old_env}
    envs_drift = {"emea": old_env, "apac": new_env, "amer": old_env}
    comp = {"emea": "gpu-a100-pool", "apac": "gpu-t4-spot", "amer": "gpu-a100-pool"}

    w.criteria(at("2026-03-02 15:00"), approver, "wheat-yield",
               "metrics.rmse <= 0.65", "metrics.r2 >= 0.65", "status = 'COMPLETED'", "approved",
               "no flagged upstream")
    features("r1", "2026-03-03", "2026-02", "v10")
    r1 = round_("r1", "2026-03-09", envs_old, comp)
    reg = lambda t, v, run_id, notes: w.register(t, registry, "wheat-yield", v, run_id, "model.pt", notes, approver)
    w1 = r1[("wheat", "emea")]
    reg(at("2026-03-12 10:00"), "1", w1,
        f"EMEA wheat on yield-features@r1; RMSE {runs[w1]['last']['rmse']:.3f} t/ha")
    w.stage(at("2026-03-13 10:00"), registry, "wheat-yield", "1", "STAGING", "First regional wheat model", approver)
    w.stage(at("2026-03-20 10:00"), registry, "wheat-yield", "1", "PRODUCTION",
            "Backtest on 2025 harvest within 0.7 t/ha", approver)
    w.deploy(at("2026-03-20 10:30"), deployer, "wheat-yield", "1", "yield-forecast-wheat", "yf-wheat-0001")

    # APAC upgrades its image to pytorch 2.4.0 in May: the drift starts here.
    w.tags(at("2026-05-20 09:00"), CLI, owners["apac"],
           {"kind": "ENVIRONMENT", "name": "pytorch", "version": "2.4.0"},
           {"image": "registry.agri-yield.example/train/pytorch:2.4.0-cuda12.4", "adopted_by": "apac"})
    features("r2", "2026-06-02", "2026-05", "v11")
    r2 = round_("r2", "2026-06-08", envs_drift, comp, cancel=("wheat", "apac"))
    w2 = r2[("wheat", "amer")]
    reg(at("2026-06-12 10:00"), "2", w2,
        f"AMER wheat on yield-features@r2; RMSE {runs[w2]['last']['rmse']:.3f} t/ha")
    w.stage(at("2026-06-13 10:00"), registry, "wheat-yield", "2", "STAGING", "Better than wheat-yield@1 on r2 backtest", approver)
    w.stage(at("2026-06-22 10:00"), registry, "wheat-yield", "2", "PRODUCTION", "Approved for the northern-hemisphere season", approver)
    w.deploy(at("2026-06-22 10:30"), deployer, "wheat-yield", "2", "yield-forecast-wheat", "yf-wheat-0002")
    w.stage(at("2026-06-22 11:00"), registry, "wheat-yield", "1", "ARCHIVED", "Replaced by wheat-yield@2", approver)
    m1 = r2[("maize", "apac")]
    w.criteria(at("2026-06-14 15:00"), approver, "maize-yield",
               "metrics.rmse <= 1.05", "metrics.r2 >= 0.6", "status = 'COMPLETED'", "approved",
               "no flagged upstream")
    w.register(at("2026-06-15 10:00"), registry, "maize-yield", "1", m1, "model.pt",
               f"APAC maize on yield-features@r2 (pytorch 2.4.0); RMSE {runs[m1]['last']['rmse']:.3f} t/ha",
               approver)
    w.stage(at("2026-06-16 10:00"), registry, "maize-yield", "1", "STAGING", "First maize model", approver)

    features("r3", "2026-08-04", "2026-07", "v12")
    comp3 = dict(comp, amer="gpu-t4-spot")
    r3 = round_("r3", "2026-08-10", envs_drift, comp3)
    # The platform team compares APAC r3 with EMEA/AMER and reruns it on 2.3.1.
    rerun = {}
    for k, crop in enumerate(("wheat", "maize")):
        rerun[crop] = train(crop, "apac", "r3", at("2026-08-17 07:00") + timedelta(minutes=45 * k),
                            old_env, "gpu-a100-pool", "02", tags_extra={"rerun_of": r3[(crop, "apac")]})
        w.tags(runs[rerun[crop]]["end"] + timedelta(hours=3), CLI, platform, run_ref(r3[(crop, "apac")]),
               {"drift_suspect": "pytorch 2.4.0", "compare_with": rerun[crop]})
    w3 = r3[("wheat", "emea")]
    reg(at("2026-08-14 10:00"), "3", w3,
        f"EMEA wheat on yield-features@r3; RMSE {runs[w3]['last']['rmse']:.3f} t/ha")
    w.stage(at("2026-08-15 10:00"), registry, "wheat-yield", "3", "STAGING", "r3 features, lower RMSE than wheat-yield@2", approver)

    w.flag(at("2026-09-02 11:00"), platform, {"kind": "ENVIRONMENT", "name": "pytorch", "version": "2.4.0"},
           "Image pytorch:2.4.0 was built against an unpinned CUDA 12.4 runtime; identical-input reruns "
           "show RMSE 7-9% worse than pytorch 2.3.1. Do not promote models trained on it.", "MEDIUM",
           producer=CLI)
    # The rerun on 2.3.1 shows what maize should reach: the bar rises.
    w.criteria(at("2026-09-03 08:30"), approver, "maize-yield",
               "metrics.rmse <= 0.95", "metrics.r2 >= 0.6", "status = 'COMPLETED'", "approved",
               "no flagged upstream")
    w.stage(at("2026-09-03 09:00"), registry, "maize-yield", "1", "ARCHIVED",
            "Trained on flagged environment pytorch@2.4.0", approver)
    w.stage(at("2026-09-07 10:00"), registry, "wheat-yield", "3", "PRODUCTION",
            "Trained on pytorch@2.3.1 (unaffected by the 2.4.0 flag); harvest backtest passed", approver)
    w.deploy(at("2026-09-07 10:30"), deployer, "wheat-yield", "3", "yield-forecast-wheat", "yf-wheat-0003")
    w.stage(at("2026-09-07 11:00"), registry, "wheat-yield", "2", "ARCHIVED", "Replaced by wheat-yield@3", approver)
    m2 = rerun["maize"]
    w.register(at("2026-09-10 10:00"), registry, "maize-yield", "2", m2, "model.pt",
               f"APAC maize rerun on pytorch 2.3.1; RMSE {runs[m2]['last']['rmse']:.3f} t/ha", approver)
    w.stage(at("2026-09-11 10:00"), registry, "maize-yield", "2", "STAGING", "Replaces maize-yield@1", approver)
    w.stage(at("2026-09-21 10:00"), registry, "maize-yield", "2", "PRODUCTION", "Southern-hemisphere planting season", approver)
    w.deploy(at("2026-09-21 10:30"), deployer, "maize-yield", "2", "yield-forecast-maize", "yf-maize-0001")

    # Season close: an October round on the fresh weather release, 2.3.1 everywhere.
    features("r4", "2026-10-14", "2026-09", "v13")
    for k, region in enumerate(("emea", "apac", "amer")):
        rid = f"wheat-{region}-r4-01"
        start = at("2026-10-19 07:00") + timedelta(minutes=50 * k)
        rmse = base_rmse["wheat"] * region_eff[region] * 0.86 * RNG.uniform(0.98, 1.02)
        end, last = w.run(
            run_id=rid, experiment="crop-yield-wheat", start=start, minutes=RNG.randint(80, 120),
            actor=owners[region], code_version=commit("crop-yield", f"{region}-r4"), env=old_env,
            compute="gpu-a100-pool", name=f"wheat-{region}-r4",
            params={"arch": "tft", "hidden_size": "128", "lr": "0.0003", "epochs": "10",
                    "batch_size": "512", "loss": "huber"},
            tags={"region": region, "crop": "wheat", "data_window": "2019-01..2026-09",
                  "cost_center": f"agri-{region}-ds"},
            datasets=[ds("yield-features", "r4")],
            curves={"rmse": curve(rmse * 2.1, rmse, 10, rmse * 0.01),
                    "mae": curve(rmse * 1.6, rmse * 0.78, 10, rmse * 0.01),
                    "r2": curve(0.05, 1 - (rmse / (base_rmse["wheat"] * 1.75)) ** 2, 10, 0.005)},
            flush=5, outputs=[("model.pt", "model", mb(20, 90)), ("residuals.png", "plot", mb(0.1, 0.4))])
    return w


# ---------------------------------------------------------------------------
# 3. insurer-fraud: a fast response to a new scam pattern
# ---------------------------------------------------------------------------

def insurer_fraud():
    w = Workspace("insurer-fraud", "fraud", "s3://insurer-governed-artifacts")
    lead = "grace.mwangi@insurer.example"
    dss = ["omar.haddad@insurer.example", "eva.lindqvist@insurer.example"]
    gov = "rachel.stone@insurer.example"       # fraud model governance
    head = "paul.nkemelu@insurer.example"      # head of fraud analytics
    siu = "ines.duarte@insurer.example"        # special investigations unit
    pipeline = "svc-airflow@insurer.example"
    registry = "svc-registry@insurer.example"
    deployer = "svc-deploy@insurer.example"
    lgbm = ("lightgbm", "4.3.0")
    sk = ("sklearn", "1.4.2")
    burst = "cpu-burst-pool"
    repo = "fraud-models"

    w.experiment(at("2026-01-06 09:00"), lead, "fraud-scam-2026",
                 "Claims fraud and scam detection, 2026", {"team": "fraud-analytics", "owner": lead,
                                                           "selection": "max pr_auc with precision>=0.9"})
    w.experiment(at("2026-01-06 09:05"), lead, "claims-labeling",
                 "SIU-confirmed scam labels joined to claims", {"team": "siu"})

    claims_days = {"1": "2026-01-07", "2": "2026-03-02", "3": "2026-05-11", "4": "2026-07-06"}
    for v in ("1", "2"):
        w.dataset(at(f"{claims_days[v]} 03:00"), AIRFLOW, pipeline, "claims", v)

    def fraud_curves(p, r, pr_auc, steps=10):
        prec = curve(p * 0.8, p, steps, 0.004)
        rec = curve(r * 0.6, r, steps, 0.004)
        return {"precision": prec, "recall": rec,
                "f1": [2 * a * b / (a + b) for a, b in zip(prec, rec)],
                "pr_auc": curve(pr_auc * 0.75, pr_auc, steps, 0.003)}

    outs = lambda: [("model.onnx", "model", mb(1, 12)), ("confusion_matrix.png", "confusion_matrix", mb(0.03, 0.09))]

    end, _ = w.run(run_id="fraud-gbm-0115", experiment="fraud-scam-2026", start=at("2026-01-15 10:00"),
                   minutes=40, actor=dss[0], code_version=commit(repo, "v3.2.0"), env=lgbm, compute=burst,
                   params={"learning_rate": "0.1", "num_leaves": "63", "scale_pos_weight": "10",
                           "feature_set": "base", "n_estimators": "500"},
                   tags={"team": "fraud-analytics"}, datasets=[ds("claims", "1")],
                   curves=fraud_curves(0.88, 0.58, 0.69), outputs=outs())
    w.register(end + timedelta(days=1), registry, "fraud", "10", "fraud-gbm-0115", "model.onnx",
               "Quarterly refresh on claims@1; precision 0.88, recall 0.58", gov)
    w.stage(at("2026-01-19 10:00"), registry, "fraud", "10", "STAGING", "Quarterly refresh", gov)
    w.stage(at("2026-01-26 10:00"), registry, "fraud", "10", "PRODUCTION", "Quarterly refresh approved", head)
    w.deploy(at("2026-01-26 10:20"), deployer, "fraud", "10", "fraud-realtime", "fr-rt-0031")

    end, _ = w.run(run_id="fraud-gbm-0310", experiment="fraud-scam-2026", start=at("2026-03-10 10:00"),
                   minutes=42, actor=dss[0], code_version=commit(repo, "v3.3.0"), env=lgbm, compute=burst,
                   params={"learning_rate": "0.1", "num_leaves": "63", "scale_pos_weight": "10",
                           "feature_set": "base", "n_estimators": "600"},
                   tags={"team": "fraud-analytics"}, datasets=[ds("claims", "2")],
                   curves=fraud_curves(0.90, 0.60, 0.71), outputs=outs())
    # Governance writes down the bar fraud@10 misses, before fraud@11 is
    # staged (fraud@10 stays in production until fraud@11 replaces it).
    w.criteria(at("2026-03-11 08:00"), gov, "fraud",
               "metrics.precision >= 0.9", "metrics.recall >= 0.6", "status = 'COMPLETED'",
               "approved", "stages approved")
    w.register(end + timedelta(days=1), registry, "fraud", "11", "fraud-gbm-0310", "model.onnx",
               "Quarterly refresh on claims@2; precision 0.90, recall 0.60", gov)
    w.stage(at("2026-03-12 10:00"), registry, "fraud", "11", "STAGING", "Quarterly refresh", gov)
    w.stage(at("2026-03-17 10:00"), registry, "fraud", "11", "PRODUCTION", "precision 0.90 >= 0.90", head)
    w.deploy(at("2026-03-17 10:20"), deployer, "fraud", "11", "fraud-realtime", "fr-rt-0032")
    w.stage(at("2026-03-17 10:40"), registry, "fraud", "10", "ARCHIVED", "Replaced by fraud@11", head)

    # --- May: a ghost-broking scam wave; labels, then a fast sweep --------
    w.dataset(at(f"{claims_days['3']} 03:00"), AIRFLOW, pipeline, "claims", "3")
    w.tags(at("2026-05-11 08:30"), CLI, siu, dataset_ref("claims", "3"),
           {"contains_pattern": "ghost-broking", "siu_case": "SIU-2026-0457"})

    def labels(version, start, claims_v, extra_from=()):
        run_id = f"label-scam-{version}"
        end, _ = w.run(run_id=run_id, experiment="claims-labeling", start=start, minutes=35,
                       actor=pipeline, producer=AIRFLOW, code_version=commit("siu-labeling", version),
                       env=sk, compute=burst,
                       params={"source": "siu_case_outcomes", "pattern": "ghost-broking",
                               "min_confidence": "confirmed"},
                       datasets=[ds("claims", claims_v)] + list(extra_from),
                       outputs=[("label_report.csv", "report", mb(0.1, 0.5))])
        w.dataset(end + timedelta(minutes=1), AIRFLOW, pipeline, "scam-labels", version,
                  derived_from=[ds("claims", claims_v)] + list(extra_from), produced_by=run_id)
        return end

    labels("1", at("2026-05-12 06:00"), "3")

    sweep = "fraud-sweep-0513"
    start = at("2026-05-13 08:00")
    code = commit(repo, "v4.0.0-ghost")
    inputs = [ds("claims", "3"), ds("scam-labels", "1")]
    w.emit(start, TRAIN, lead, "run_started", {
        "run_id": sweep, "experiment": "fraud-scam-2026", "name": "ghost-broking-sweep",
        "code_version": code, "environment": {"name": lgbm[0], "version": lgbm[1]},
        "compute_target": burst,
        "params": {"search": "grid-sample", "n_trials": "20", "objective": "pr_auc",
                   "constraint": "precision>=0.9", "max_parallel": "5"},
        "tags": {"team": "fraud-analytics", "kind": "sweep", "pattern": "ghost-broking"}})
    w.emit(start + timedelta(seconds=40), TRAIN, lead, "run_inputs_declared",
           {"run_id": sweep, "datasets": inputs})
    spw_p = {"5": 0.02, "10": 0.0, "20": -0.03}
    spw_r = {"5": -0.04, "10": 0.0, "20": 0.05}
    leaves_eff = {"31": -0.01, "63": 0.0, "127": 0.004}
    trials = []
    for i in range(1, 21):
        fs = "base+graph" if i % 3 != 1 else "base"
        params = {"learning_rate": RNG.choice(["0.05", "0.1", "0.2"]),
                  "num_leaves": RNG.choice(["31", "63", "127"]),
                  "scale_pos_weight": RNG.choice(["5", "10", "20"]),
                  "min_data_in_leaf": RNG.choice(["20", "50"]),
                  "feature_set": fs, "n_estimators": "800"}
        g = 1 if fs == "base+graph" else 0
        p = 0.865 + 0.04 * g + spw_p[params["scale_pos_weight"]] + RNG.gauss(0, 0.006)
        r = 0.62 + 0.07 * g + spw_r[params["scale_pos_weight"]] + RNG.gauss(0, 0.008)
        pa = 0.70 + 0.05 * g + leaves_eff[params["num_leaves"]] \
            + (-0.01 if params["learning_rate"] == "0.2" else 0.0) + RNG.gauss(0, 0.006)
        run_id = f"{sweep}-t{i:02d}"
        t0 = start + timedelta(minutes=3) + timedelta(minutes=24) * ((i - 1) // 5) + timedelta(minutes=(i - 1) % 5)
        kw = {}
        if i == 17:
            kw = {"status": "FAILED", "stop_after": 1,
                  "error": "LightGBMError: Check failed: (num_data) > (0): no positive samples in fold 3 "
                           "after min_data_in_leaf filtering"}
        end, last = w.run(
            run_id=run_id, experiment="fraud-scam-2026", start=t0, minutes=RNG.randint(12, 20),
            actor=dss[i % 2], code_version=code, env=lgbm, compute=burst, parent=sweep,
            name=f"trial-{i:02d}", params=params, tags={"team": "fraud-analytics", "kind": "trial"},
            datasets=inputs, curves=fraud_curves(p, r, pa), flush=5, outputs=outs(), **kw)
        trials.append({"run_id": run_id, "end": end, "last": last, "params": params,
                       "status": kw.get("status", "COMPLETED")})
    ok = [t for t in trials if t["status"] == "COMPLETED" and t["last"]["precision"] >= 0.9]
    best = max(ok, key=lambda t: t["last"]["pr_auc"])
    sweep_end = max(t["end"] for t in trials) + timedelta(minutes=3)
    w.emit(sweep_end - timedelta(minutes=1), TRAIN, lead, "metrics_logged", {
        "run_id": sweep, "metrics": [{"key": "best_pr_auc", "value": best["last"]["pr_auc"]}]})
    w.emit(sweep_end, TRAIN, lead, "run_finished", {"run_id": sweep, "status": "COMPLETED"})
    w.tags(sweep_end + timedelta(minutes=30), CLI, lead, run_ref(best["run_id"]),
           {"selected": "true", "selection_rule": "max pr_auc subject to precision >= 0.9"})
    b = best["last"]
    w.register(at("2026-05-15 09:00"), registry, "fraud", "12", best["run_id"], "model.onnx",
               f"Ghost-broking response: best trial of {sweep} by pr_auc with precision >= 0.9. "
               f"precision {b['precision']:.3f}, recall {b['recall']:.3f}, f1 {b['f1']:.3f}, "
               f"pr_auc {b['pr_auc']:.3f} on scam-labels@1 holdout.", gov)
    w.stage(at("2026-05-16 10:00"), registry, "fraud", "12", "STAGING",
            f"Meets criteria: precision {b['precision']:.3f} >= 0.90 on source run; "
            f"recall {b['recall']:.3f} vs 0.60 for fraud@11", gov)
    w.stage(at("2026-05-20 09:00"), registry, "fraud", "12", "PRODUCTION",
            "Three days in staging on live traffic; SIU confirmed 41 of 44 sampled alerts", head)
    w.deploy(at("2026-05-20 09:15"), deployer, "fraud", "12", "fraud-realtime", "fr-rt-0033")
    w.stage(at("2026-05-20 09:30"), registry, "fraud", "11", "ARCHIVED",
            "Replaced by fraud@12 (misses ghost-broking claims)", head)

    # --- June: distill fraud@11 + the sweep winner into a batch model ---
    end, _ = w.run(
        run_id="fraud-distill-0603", experiment="fraud-scam-2026", start=at("2026-06-03 10:00"),
        minutes=55, actor=dss[1], code_version=commit(repo, "v4.1.0-distill"), env=("pytorch", "2.3.1"),
        compute="gpu-t4-pool", name="student-batch-scorer",
        params={"teacher_models": "fraud@11,trial:model.onnx", "temperature": "2.0",
                "student": "mlp-3x128", "alpha": "0.7"},
        tags={"team": "fraud-analytics", "kind": "distillation"},
        datasets=[ds("claims", "3"), ds("scam-labels", "1")],
        models_in=[mv("fraud", "11")], artifacts_in=[art(best["run_id"], "model.onnx")],
        curves=fraud_curves(0.89, 0.66, 0.72), flush=5,
        outputs=[("model-student.onnx", "model", mb(0.3, 1)), ("confusion_matrix.png", "confusion_matrix", mb(0.03, 0.09))])
    w.tags(end + timedelta(hours=1), CLI, dss[1], run_ref("fraud-distill-0603"),
           {"use": "nightly batch rescoring", "governed_storage": "true"})
    # A model of its own, with no promotion criteria: it scores claims in a
    # nightly batch, never a customer in real time.
    w.register(at("2026-06-04 10:00"), registry, "fraud-batch", "1", "fraud-distill-0603",
               "model-student.onnx",
               "Student of fraud@11 and the ghost-broking trial for nightly batch rescoring; not "
               "customer-facing, so outside the realtime promotion criteria.", gov)
    w.stage(at("2026-06-05 10:00"), registry, "fraud-batch", "1", "STAGING",
            "Nightly batch rescoring trial on claims@3", gov)

    # --- July: more claims, relabel, retrain candidate ------------------
    w.dataset(at(f"{claims_days['4']} 03:00"), AIRFLOW, pipeline, "claims", "4")
    lab_end = labels("2", at("2026-07-07 06:00"), "4", extra_from=[ds("scam-labels", "1")])
    w.run(run_id="fraud-retrain-0708", experiment="fraud-scam-2026", start=lab_end + timedelta(hours=20),
          minutes=18, actor=dss[0], code_version=commit(repo, "v4.2.0"), env=lgbm, compute=burst,
          params=dict(best["params"]), tags={"team": "fraud-analytics", "candidate_for": "fraud@13"},
          datasets=[ds("claims", "4"), ds("scam-labels", "2")],
          curves=fraud_curves(0.915, 0.71, 0.77), flush=5, outputs=outs())

    # --- September: SIU disputes some labels; monitoring of fraud@12 ----
    w.flag(at("2026-09-08 14:00"), siu, dataset_ref("scam-labels", "1"),
           "SIU review overturned 12 of 311 ghost-broking labels (legitimate brokers misclassified); "
           "models trained on scam-labels@1 may over-flag those brokers.", "LOW", producer=CLI)
    w.run(run_id="fraud-monitor-2026-09", experiment="fraud-scam-2026", start=at("2026-09-09 06:00"),
          minutes=15, actor="svc-monitoring@insurer.example", producer="model-monitor/1.3",
          code_version=commit("fraud-monitoring", "v0.9.2"), env=sk, compute=burst,
          params={"window": "2026-08-01..2026-08-31", "threshold": "0.62"},
          tags={"kind": "monitoring"}, datasets=[ds("claims", "4")], models_in=[mv("fraud", "12")],
          curves={"precision": [0.905], "recall": [0.69], "pr_auc": [0.752]}, steps=1,
          outputs=[("confusion_matrix.png", "confusion_matrix", mb(0.03, 0.09))])
    w.tags(at("2026-11-16 10:00"), CLI, gov, model_ref("fraud", "12"),
           {"annual_review": "2026-11-passed", "reviewer": gov})
    return w


# ---------------------------------------------------------------------------
# Validation (the service's rules, and the story's own consistency)
# ---------------------------------------------------------------------------

WS_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._:/+=-]{0,255}")
RUN_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._:+=-]{0,255}")
VER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}")
KEY_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._:/ -]{0,249}")
EID_RE = re.compile(r"[!-~]{1,128}")
TS_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
PAYLOADS = {"experiment_created", "run_started", "run_finished", "params_logged",
            "metrics_logged", "tags_set", "dataset_version_registered",
            "run_inputs_declared", "artifact_logged", "model_registered",
            "model_stage_changed", "model_deployed", "entity_flagged",
            "promotion_criteria_set"}
KINDS = {"EXPERIMENT", "RUN", "DATASET_VERSION", "ARTIFACT", "MODEL_VERSION",
         "ENVIRONMENT", "COMPUTE", "ENDPOINT"}
LO, HI = datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2026, 11, 25, tzinfo=timezone.utc)

# What the story says about promotion criteria, checked as the events are
# replayed in event-time order: (moment, workspace, model, version, the
# criteria terms it does not meet then). Besides these, every move to
# PRODUCTION must meet the criteria in force at that moment.
STORY_CHECKS = [
    # The fairness review that failed: the gap is over the MRM-7 limit.
    (at("2026-04-21 16:00"), "credit-lender", "credit-risk", "4", ["metrics.fairness_gap < 0.05"]),
    # The flag on applications@3 leaves credit-risk@7 in production without
    # meeting its criteria, until credit-risk@8 replaces it.
    (at("2026-10-19 16:19"), "credit-lender", "credit-risk", "7", []),
    (at("2026-10-19 16:21"), "credit-lender", "credit-risk", "7", ["no flagged upstream"]),
    (at("2026-11-10 08:59"), "credit-lender", "credit-risk", "7", ["no flagged upstream"]),
    (HI, "credit-lender", "credit-risk", "8", []),
    # fraud@10, in production when the criteria are written, misses them.
    (at("2026-03-11 09:00"), "insurer-fraud", "fraud", "10",
     ["metrics.precision >= 0.9", "metrics.recall >= 0.6"]),
    # DOMAIN.md question 6: fraud@12 meets them (precision >= 0.9).
    (HI, "insurer-fraud", "fraud", "12", []),
    # The batch student has no criteria at all.
    (HI, "insurer-fraud", "fraud-batch", "1", None),
    # maize-yield@1 was trained on the flagged pytorch@2.4.0 and misses the
    # raised RMSE bar.
    (HI, "agri-yield", "maize-yield", "1", ["metrics.rmse <= 0.95", "no flagged upstream"]),
    (HI, "agri-yield", "maize-yield", "2", []),
    (HI, "agri-yield", "wheat-yield", "3", []),
]

TERM_RE = re.compile(r"metrics\.(?P<key>[A-Za-z0-9_.]+) (?P<op><=|>=|!=|=|<|>) (?P<number>-?[0-9.]+)"
                     r"|status = '(?P<status>[A-Z]+)'"
                     r"|(?P<lineage>approved|stages approved|no flagged upstream)")
OPS = {"<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b,
       ">": lambda a, b: a > b, "=": lambda a, b: a == b, "!=": lambda a, b: a != b}


class Promotions:
    """The facts promotion criteria read, folded from events in event-time
    order: source runs' latest metrics and status, registrations, stage
    changes, flags and the edges an upstream walk follows."""

    def __init__(self):
        self.criteria = {}     # (ws, model) -> criteria string
        self.metrics = {}      # (ws, run) -> key -> (step, timestamp, value)
        self.status = {}       # (ws, run) -> status
        self.versions = {}     # (ws, model, version) -> {"run", "approved_by", "stages", "stage"}
        self.causes = {}       # node -> set of nodes it was made from
        self.flagged = set()   # nodes

    def cause(self, node, *causes):
        self.causes.setdefault(node, set()).update(causes)

    def observe(self, ws, kind, p):
        if kind == "promotion_criteria_set":
            self.criteria[(ws, p["model"])] = p["criteria"]
        elif kind == "run_started":
            run = (ws, "RUN", p["run_id"])
            env = p["environment"]
            self.cause(run, (ws, "ENVIRONMENT", env["name"], env["version"]),
                       (ws, "COMPUTE", p["compute_target"]))
            if p.get("parent_run_id"):
                self.cause(run, (ws, "RUN", p["parent_run_id"]))
            self.status[(ws, p["run_id"])] = "STARTED"
        elif kind == "run_inputs_declared":
            run = (ws, "RUN", p["run_id"])
            self.cause(run, *[(ws, "DATASET_VERSION", d["dataset"], d["version"]) for d in p.get("datasets", [])])
            self.cause(run, *[(ws, "MODEL_VERSION", m["model"], m["version"]) for m in p.get("models", [])])
            self.cause(run, *[(ws, "ARTIFACT", a["run_id"], a["name"]) for a in p.get("artifacts", [])])
        elif kind == "artifact_logged":
            self.cause((ws, "ARTIFACT", p["run_id"], p["name"]), (ws, "RUN", p["run_id"]))
        elif kind == "metrics_logged":
            series = self.metrics.setdefault((ws, p["run_id"]), {})
            for m in p["metrics"]:
                point = (m.get("step", 0), m.get("timestamp", ""), m["value"])
                if m["key"] not in series or point[:2] >= series[m["key"]][:2]:
                    series[m["key"]] = point
        elif kind == "run_finished":
            self.status[(ws, p["run_id"])] = p["status"]
        elif kind == "dataset_version_registered":
            node = (ws, "DATASET_VERSION", p["dataset"], p["version"])
            self.cause(node, *[(ws, "DATASET_VERSION", d["dataset"], d["version"])
                               for d in p.get("derived_from", [])])
            if p.get("produced_by_run_id"):
                self.cause(node, (ws, "RUN", p["produced_by_run_id"]))
        elif kind == "model_registered":
            self.versions[(ws, p["model"], p["version"])] = {
                "run": p["source_run_id"], "approved_by": p.get("approved_by", ""),
                "stages": [], "stage": None}
            self.cause((ws, "MODEL_VERSION", p["model"], p["version"]), (ws, "RUN", p["source_run_id"]))
        elif kind == "model_stage_changed":
            v = self.versions[(ws, p["model"], p["version"])]
            v["stages"].append(p.get("approved_by", ""))
            v["stage"] = p["stage"]
        elif kind == "entity_flagged":
            ent = p["entity"]
            if ent["kind"] == "RUN":
                self.flagged.add((ws, "RUN", ent["name"]))
            else:
                self.flagged.add((ws, ent["kind"], ent["name"], ent["version"]))

    def flagged_upstream(self, node):
        seen, todo = {node}, [node]
        while todo:
            for cause in self.causes.get(todo.pop(), ()):
                if cause not in seen:
                    seen.add(cause)
                    todo.append(cause)
        return sorted(seen & self.flagged)

    def unmet(self, ws, model, version):
        """The terms of the model's criteria the version does not meet now
        (None when the model has no criteria)."""
        criteria = self.criteria.get((ws, model))
        if criteria is None:
            return None
        v = self.versions[(ws, model, version)]
        out = []
        for term in criteria.split(" and "):
            m = TERM_RE.fullmatch(term)
            if m["key"]:
                point = self.metrics.get((ws, v["run"]), {}).get(m["key"])
                ok = point is not None and OPS[m["op"]](point[2], float(m["number"]))
            elif m["status"]:
                ok = self.status.get((ws, v["run"])) == m["status"]
            elif m["lineage"] == "approved":
                ok = bool(v["approved_by"])
            elif m["lineage"] == "stages approved":
                ok = all(v["stages"])
            else:
                ok = not self.flagged_upstream((ws, "MODEL_VERSION", model, version))
            if not ok:
                out.append(term)
        return out


def validate(lines):
    errors = []
    seen_ids = set()
    # Story state per workspace, keyed by event time.
    runs, datasets, artifacts, models, experiments = {}, {}, {}, {}, {}
    promotions = Promotions()
    checks = sorted(STORY_CHECKS, key=lambda c: c[0])

    def story_checks(until):
        """Runs the story's checks of moments before `until`."""
        while checks and checks[0][0] < until:
            when, ws, model, version, expected = checks.pop(0)
            got = promotions.unmet(ws, model, version)
            if got != expected:
                errors.append(f"{rfc3339(when)}: {model}@{version} in {ws} should miss {expected} "
                              f"of its promotion criteria, and misses {got}")

    def err(e, msg):
        errors.append(f"{e.get('event_id')}: {msg}")

    def need(e, rx, value, what):
        if not isinstance(value, str) or not rx.fullmatch(value):
            err(e, f"bad {what}: {value!r}")

    def keys(e, m, what):
        for k, v in m.items():
            need(e, KEY_RE, k, f"{what} key")
            if k.endswith(" "):
                err(e, f"{what} key ends with a space: {k!r}")
            if not isinstance(v, str) or len(v.encode()) > 8192:
                err(e, f"{what} value for {k!r}")

    def parse_ts(e, s):
        if not isinstance(s, str) or not TS_RE.fullmatch(s):
            err(e, f"bad timestamp {s!r}")
            return LO
        t = datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        if not LO <= t <= HI:
            err(e, f"time out of range {s}")
        return t

    for line in lines:
        e = json.loads(line)
        if e.get("event_id") in seen_ids:
            err(e, "duplicate event_id")
        seen_ids.add(e.get("event_id"))
        need(e, EID_RE, e.get("event_id"), "event_id")
        ws = e.get("workspace")
        need(e, WS_RE, ws, "workspace")
        for f in ("producer", "actor"):
            if not e.get(f):
                err(e, f"missing {f}")
        t = parse_ts(e, e.get("occurred_at"))
        story_checks(t)
        present = [k for k in e if k in PAYLOADS]
        extra = set(e) - PAYLOADS - {"event_id", "workspace", "occurred_at", "producer", "actor"}
        if len(present) != 1 or extra:
            err(e, f"payload keys {present}, unknown {extra}")
            continue
        kind = present[0]
        p = e[kind]
        R = runs.setdefault(ws, {})
        D = datasets.setdefault(ws, {})
        A = artifacts.setdefault(ws, {})
        M = models.setdefault(ws, {})
        X = experiments.setdefault(ws, set())

        def run_exists(rid, when=t, open_=False):
            need(e, RUN_RE, rid, "run_id")
            r = R.get(rid)
            if r is None or r["start"] > when:
                err(e, f"run {rid} not started by then")
            elif open_ and r.get("end") and r["end"] < when:
                err(e, f"run {rid} already finished")

        def dataset_exists(d):
            need(e, NAME_RE, d.get("dataset"), "dataset")
            need(e, VER_RE, d.get("version"), "dataset version")
            k = (d.get("dataset"), d.get("version"))
            if k not in D or D[k] > t:
                err(e, f"dataset {k} not registered by then")

        def model_exists(m):
            need(e, NAME_RE, m.get("model"), "model")
            need(e, VER_RE, m.get("version"), "model version")
            k = (m.get("model"), m.get("version"))
            if k not in M or M[k] > t:
                err(e, f"model {k} not registered by then")

        def entity_exists(ent):
            if ent.get("kind") not in KINDS or "workspace" in ent:
                err(e, f"bad entity {ent}")
            k = ent.get("kind")
            if k == "DATASET_VERSION":
                dataset_exists({"dataset": ent.get("name"), "version": ent.get("version")})
            elif k == "MODEL_VERSION":
                model_exists({"model": ent.get("name"), "version": ent.get("version")})
            elif k == "RUN":
                run_exists(ent.get("name"))
            elif k == "ENVIRONMENT":
                need(e, NAME_RE, ent.get("name"), "environment")
                need(e, VER_RE, ent.get("version"), "environment version")
            else:
                err(e, f"demo uses no {k} entities")

        if kind == "experiment_created":
            need(e, NAME_RE, p.get("experiment"), "experiment")
            X.add(p["experiment"])
            keys(e, p.get("tags", {}), "tag")
        elif kind == "run_started":
            rid = p.get("run_id")
            need(e, RUN_RE, rid, "run_id")
            if rid in R:
                err(e, "run started twice")
            if p.get("experiment") not in X:
                err(e, f"unknown experiment {p.get('experiment')}")
            if "parent_run_id" in p:
                if p["parent_run_id"] == rid:
                    err(e, "parent_run_id == run_id")
                run_exists(p["parent_run_id"], open_=True)
            need(e, NAME_RE, p["environment"]["name"], "environment")
            need(e, VER_RE, p["environment"]["version"], "environment version")
            need(e, NAME_RE, p.get("compute_target"), "compute_target")
            keys(e, p.get("params", {}), "param")
            keys(e, p.get("tags", {}), "tag")
            R[rid] = {"start": t, "last": t}
        elif kind in ("run_inputs_declared", "metrics_logged", "params_logged", "artifact_logged"):
            run_exists(p.get("run_id"), open_=True)
            r = R.get(p.get("run_id"), {})
            if kind == "run_inputs_declared":
                for d in p.get("datasets", []):
                    dataset_exists(d)
                for m in p.get("models", []):
                    model_exists(m)
                for a in p.get("artifacts", []):
                    if (a.get("run_id"), a.get("name")) not in A:
                        err(e, f"unknown artifact {a}")
            elif kind == "metrics_logged":
                for m in p["metrics"]:
                    need(e, KEY_RE, m.get("key"), "metric key")
                    if not isinstance(m.get("value"), float) or not math.isfinite(m["value"]):
                        err(e, f"metric value {m.get('value')!r}")
                    if "step" in m and (not isinstance(m["step"], int) or m["step"] <= 0):
                        err(e, "metric step")
                    if "timestamp" in m and parse_ts(e, m["timestamp"]) > t:
                        err(e, "metric measured after it was logged")
            elif kind == "params_logged":
                keys(e, p.get("params", {}), "param")
            else:
                need(e, NAME_RE, p.get("name"), "artifact name")
                if not isinstance(p.get("size_bytes"), int) or not p.get("digest", "").startswith("sha256:"):
                    err(e, "artifact size/digest")
                A[(p["run_id"], p["name"])] = t
        elif kind == "run_finished":
            run_exists(p.get("run_id"), open_=True)
            if p.get("status") not in ("COMPLETED", "FAILED", "CANCELED"):
                err(e, f"status {p.get('status')}")
            if p.get("status") == "FAILED" and not p.get("error"):
                err(e, "FAILED without error")
            if p.get("run_id") in R:
                R[p["run_id"]]["end"] = t
                R[p["run_id"]]["status"] = p.get("status")
        elif kind == "dataset_version_registered":
            need(e, NAME_RE, p.get("dataset"), "dataset")
            need(e, VER_RE, p.get("version"), "dataset version")
            k = (p["dataset"], p["version"])
            if k in D:
                err(e, "dataset version registered twice")
            for d in p.get("derived_from", []):
                if (d["dataset"], d["version"]) == k:
                    err(e, "derived_from itself")
                dataset_exists(d)
            if "produced_by_run_id" in p:
                rid = p["produced_by_run_id"]
                run_exists(rid)
                if R.get(rid, {}).get("status") != "COMPLETED":
                    err(e, "produced by an unfinished run")
            D[k] = t
        elif kind == "model_registered":
            need(e, NAME_RE, p.get("model"), "model")
            need(e, VER_RE, p.get("version"), "model version")
            rid = p.get("source_run_id")
            if not rid:
                err(e, "model_registered without source_run_id")
            run_exists(rid)
            r = R.get(rid, {})
            if r.get("status") != "COMPLETED" or r["end"] > t:
                err(e, "registered before its source run completed")
            if p.get("artifact_name") and (rid, p["artifact_name"]) not in A:
                err(e, "registered artifact not logged by the source run")
            M[(p["model"], p["version"])] = t
        elif kind == "model_stage_changed":
            model_exists(p)
            if p.get("stage") not in ("STAGING", "PRODUCTION", "ARCHIVED"):
                err(e, f"stage {p.get('stage')}")
        elif kind == "model_deployed":
            model_exists(p)
            need(e, NAME_RE, p.get("endpoint"), "endpoint")
        elif kind == "tags_set":
            entity_exists(p.get("entity", {}))
            keys(e, p.get("tags", {}), "tag")
        elif kind == "entity_flagged":
            entity_exists(p.get("entity", {}))
            if p.get("severity") not in ("LOW", "MEDIUM", "HIGH", "CRITICAL"):
                err(e, f"severity {p.get('severity')}")
        elif kind == "promotion_criteria_set":
            need(e, NAME_RE, p.get("model"), "model")
            criteria = p.get("criteria", "")
            for term in criteria.split(" and "):
                if not TERM_RE.fullmatch(term):
                    err(e, f"criteria term {term!r} is none the story knows")
            if len(criteria.encode()) > 4096:
                err(e, "criteria longer than 4 KiB")
        if not any(m.startswith(f"{e.get('event_id')}:") for m in errors):
            promotions.observe(ws, kind, p)
            if kind == "model_stage_changed" and p.get("stage") == "PRODUCTION":
                unmet = promotions.unmet(ws, p["model"], p["version"])
                if unmet:
                    err(e, f"{p['model']}@{p['version']} promoted to PRODUCTION without meeting {unmet}")
    story_checks(HI + timedelta(seconds=1))
    # The year ends with nothing in production that misses its criteria.
    for (ws, model, version), v in promotions.versions.items():
        unmet = promotions.unmet(ws, model, version)
        if v["stage"] == "PRODUCTION" and unmet:
            errors.append(f"{ws}: {model}@{version} ends the year in PRODUCTION missing {unmet}")
    for ws, R in runs.items():
        for rid, r in R.items():
            if "end" not in r:
                errors.append(f"{ws}: run {rid} never finished")
    return errors


# ---------------------------------------------------------------------------

def main():
    workspaces = [credit_lender(), agri_yield(), insurer_fraud()]
    order = {w.name: i for i, w in enumerate(workspaces)}
    events = [e for w in workspaces for e in w.events]
    events.sort(key=lambda e: (e["arrival"], order[e["ws"].name], e["seq"]))
    counters = {w.name: 0 for w in workspaces}
    lines = []
    for e in events:
        w = e["ws"]
        counters[w.name] += 1
        out = {
            "event_id": f"{w.prefix}-{counters[w.name]:04d}",
            "workspace": w.name,
            "occurred_at": rfc3339(e["when"]),
            "producer": e["producer"],
            "actor": e["actor"],
            e["kind"]: prune(e["payload"]),
        }
        lines.append(json.dumps(out, separators=(",", ":")))
    # Story checks run in event-time order (the one late backfill arrives
    # out of order on purpose).
    by_time = sorted(lines, key=lambda l: (json.loads(l)["occurred_at"]))
    errors = validate(by_time)
    if errors:
        sys.stderr.write("refusing to write an invalid history:\n  " + "\n  ".join(errors[:50]) + "\n")
        sys.exit(1)
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
