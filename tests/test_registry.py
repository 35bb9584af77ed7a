"""Registration, the promotion rule both ways, and the registered pyfunc model, on a real
MLflow sqlite registry."""

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from PIL import Image

from gig_core.evaluation.evaluate import evaluate
from gig_core.registry.promotion import ChampionComparison, decide_promotion
from gig_core.registry.register import register
from gig_core.training.trainer import train
from tests.conftest import tiny_train_config


def test_decide_promotion_rule():
    def champion(fid, low, high):
        return ChampionComparison("3", fid, improvement=(low + high) / 2, improvement_low=low, improvement_high=high,
                                  confidence=0.95)

    assert decide_promotion(50.0, None).promote
    assert decide_promotion(40.0, champion(50.0, 6.0, 14.0)).promote
    assert not decide_promotion(40.0, champion(50.0, 6.0, 14.0), margin=8.0).promote  # not by the margin
    refused = decide_promotion(48.0, champion(50.0, -1.0, 5.0))
    assert not refused.promote and "lower only within the noise" in refused.reason
    assert not decide_promotion(60.0, champion(50.0, -14.0, -6.0)).promote
    assert not decide_promotion(50.0, champion(50.0, -2.0, 2.0)).promote  # a tie keeps the champion


def test_a_challenger_the_detector_spots_more_easily_is_refused_whatever_its_fid():
    from gig_core.registry.promotion import DetectabilityComparison

    def champion(detectability):
        return ChampionComparison("3", 50.0, improvement=10.0, improvement_low=6.0, improvement_high=14.0,
                                  confidence=0.95, detectability=detectability)

    sharper_fid_but_blurrier = champion(DetectabilityComparison(0.70, 0.95, 0.19, 0.31))
    refused = decide_promotion(40.0, sharper_fid_but_blurrier)
    assert not refused.promote and "easier to tell from real photos beyond the noise" in refused.reason
    assert refused.c2st_accuracy == 0.95 and refused.champion_c2st_accuracy == 0.70
    assert decide_promotion(40.0, champion(DetectabilityComparison(0.95, 0.96, -0.02, 0.04))).promote  # noise
    assert decide_promotion(40.0, champion(DetectabilityComparison(0.95, 0.80, -0.2, -0.1))).promote


@pytest.fixture(scope="module")
def candidates(tiny_run, tmp_path_factory):
    """Two generators scored on the same reference set: the tiny trained one and a collapsed one
    (every image the same flat colour). Which is better is whatever their FIDs say; the worse
    one also gets a doctored metrics.json claiming FID 0, which promotion must not believe."""
    import torch

    from gig_core.sampling import GeneratorBundle

    root = tmp_path_factory.mktemp("collapsed")
    train(tiny_train_config(Path(tiny_run.preprocess.out_dir), root / "train", model="cgan", steps=0), progress=False)
    bundle = GeneratorBundle.load(root / "train" / "generator.pt")
    with torch.no_grad():
        bundle.generator.body.to_rgb.weight.zero_()
    bundle.save(root / "train" / "generator.pt")
    evaluate_config = type(tiny_run.evaluate)(**{**tiny_run.evaluate.__dict__, "train_dir": str(root / "train"),
                                                 "out_dir": str(root / "evaluate")})
    evaluate(evaluate_config, progress=False)
    runs = [
        {"name": "trained", "train_dir": tiny_run.train.out_dir, "evaluate_dir": tiny_run.evaluate.out_dir},
        {"name": "collapsed", "train_dir": str(root / "train"), "evaluate_dir": str(root / "evaluate")},
    ]
    for run in runs:
        run["fid"] = json.loads((Path(run["evaluate_dir"]) / "metrics.json").read_text())["fid"]
    better, worse = sorted(runs, key=lambda r: r["fid"])
    assert worse["fid"] - better["fid"] > 1.0, runs
    doctored = Path(worse["evaluate_dir"] + "_doctored")
    shutil.copytree(worse["evaluate_dir"], doctored)
    (doctored / "metrics.json").write_text(
        json.dumps({**json.loads((doctored / "metrics.json").read_text()), "fid": 0.0})
    )
    return better, worse, str(doctored)


@pytest.fixture(scope="module")
def registry(tiny_run, candidates, tmp_path_factory):
    """v1: the worse model, claiming FID 0; v2: the better one; v3: the worse one, honest."""
    root = tmp_path_factory.mktemp("registry")
    better, worse, doctored = candidates

    def pick(run, evaluate_dir=None):
        return dict(train_dir=run["train_dir"], evaluate_dir=evaluate_dir or run["evaluate_dir"])

    results = [
        register(tiny_run.register_config(root, **pick(worse, doctored)), progress=False),
        register(tiny_run.register_config(root, **pick(better)), progress=False),
        register(tiny_run.register_config(root, **pick(worse)), progress=False),
    ]
    return root, results


def test_first_version_becomes_champion(registry):
    _, (first, _, _) = registry
    assert first.version == "1" and first.aliases == ["challenger", "champion"]
    assert first.promotion["reason"] == "no champion yet"


def test_better_challenger_is_promoted_against_the_rescored_champion(registry, candidates):
    _, (_, second, _) = registry
    _, worse, _ = candidates
    promotion = second.promotion
    assert promotion["promote"] and second.aliases == ["challenger", "champion"]
    # v1 recorded FID 0.0; the rule used its real score on the same reference set instead.
    assert promotion["champion_fid"] == pytest.approx(worse["fid"], rel=1e-6)
    assert promotion["champion_version"] == "1"


def test_worse_challenger_is_not_promoted(registry):
    root, (_, _, third) = registry
    assert third.version == "3" and not third.promotion["promote"]
    assert third.aliases == ["challenger"]
    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    assert client.get_model_version_by_alias("gig-generator", "champion").version == 2
    assert client.get_model_version_by_alias("gig-generator", "challenger").version == 3
    run = client.get_run(third.run_id)
    assert run.data.tags["promoted"] == "False"
    assert "champion_fid_rescored" in run.data.metrics and "train.steps" in run.data.params


def test_registered_pyfunc_loads_and_predicts_pngs(registry, candidates):
    root, _ = registry
    better, _, _ = candidates
    trained_version = 2 if better["name"] == "trained" else 3
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    model = mlflow.pyfunc.load_model(f"models:/gig-generator/{trained_version}")
    assert model.metadata.get_input_schema().input_names() == ["articleType", "baseColour", "seed", "count"]
    request = pd.DataFrame(
        [
            {"articleType": "Watches", "baseColour": "Black", "seed": 3, "count": 5},
            {"articleType": "Heels", "baseColour": None, "seed": 4, "count": 2},
        ]
    )
    response = model.predict(request)
    assert list(response["request"]) == [0] * 5 + [1] * 2
    images = [Image.open(io.BytesIO(png)) for png in response["png"]]  # display-ready by default: 3:4, 400 px high
    assert all(image.format == "PNG" and image.size == (300, 400) and image.mode == "RGB" for image in images)
    raw = model.predict(request, params={"postprocess": False})
    assert all(Image.open(io.BytesIO(png)).size == (32, 32) for png in raw["png"])
    assert {Image.open(io.BytesIO(png)).size for png in model.predict(request, params={"size": 200})["png"]} == {
        (150, 200)}
    with pytest.raises(Exception, match=r"size 5000 is over the limit of 1024 pixels"):
        model.predict(request, params={"size": 5000})
    again = model.predict(request)
    assert list(again["png"]) == list(response["png"])  # same seed, same images
    other = model.predict(request.assign(seed=[5, 6]))
    assert list(other["png"]) != list(response["png"])
    with pytest.raises(Exception, match="articleType='Hats' is not a value this model knows; known values: 'Heels'"):
        model.predict(pd.DataFrame([{"articleType": "Hats", "count": 1}]))
    with pytest.raises(Exception, match="count must be in \\[1, 256\\], got 300"):  # the limits of gig serve
        model.predict(pd.DataFrame([{"articleType": "Heels", "count": 300}]))


def test_gig_generate_writes_images_and_a_labelled_grid(registry, tmp_path):
    root, _ = registry
    out = tmp_path / "generated"
    command = [sys.executable, "-m", "gig_core.cli", "generate", "--model", "models:/gig-generator@champion",
               "--tracking-uri", f"sqlite:///{root / 'mlflow.db'}", "-n", "6", "--attr", "articleType=Watches",
               "--attr", "baseColour=Black", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == [f"00{i}.png" for i in range(6)] + ["grid.png", "manifest.json"]
    assert {Image.open(out / f"00{i}.png").size for i in range(6)} == {(300, 400)}  # post-processed
    grid = Image.open(out / "grid.png")
    # 120x160 cells; a title line (the attributes asked for) on top, each row labelled with its first file
    assert grid.size[1] == 16 + 162 + 2 and 6 * 122 + 2 < grid.size[0] < 6 * 122 + 60
    raw = subprocess.run([*command, "--raw", "--out", str(tmp_path / "raw")], capture_output=True, text=True,
                         cwd=tmp_path)
    assert raw.returncode == 0, raw.stderr
    assert Image.open(tmp_path / "raw" / "000.png").size == (32, 32)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("not gig's")
    for out_arg, message in [(str(tmp_path / "mine"), "holds files that gig generate did not write"),
                             (str(tmp_path / "grid.png"), "is a file name; give a folder")]:
        refused = subprocess.run([*command, "--out", out_arg], capture_output=True, text=True, cwd=tmp_path)
        assert refused.returncode == 2 and message in refused.stderr
    assert (tmp_path / "mine" / "notes.txt").read_text() == "not gig's"
    bad = subprocess.run(
        [sys.executable, "-m", "gig_core.cli", "generate", "--model", str(tmp_path / "nothing"), "--out",
         str(tmp_path / "none")], capture_output=True, text=True, cwd=tmp_path,
    )
    assert bad.returncode == 2 and "no model at" in bad.stderr


def test_mlflow_models_serve_answers_with_pngs(registry, tmp_path):
    """The shop's path: `mlflow models serve` on the champion, a JSON request, PNG images back."""
    import base64
    import json
    import os
    import urllib.request

    from tests.conftest import _free_port, start_server, wait_for_http

    root, _ = registry
    port = _free_port()
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }  # its uvicorn
    server = start_server(
        [
            sys.executable,
            "-m",
            "mlflow",
            "models",
            "serve",
            "-m",
            "models:/gig-generator@champion",
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        tmp_path / "models-serve.log",
        env=env,
        cwd=tmp_path,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/ping", server, "mlflow models serve")
        body = json.dumps(
            {"dataframe_records": [{"articleType": "Watches", "baseColour": "Black", "seed": 7, "count": 4}]}
        )
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations", data=body.encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            predictions = json.loads(response.read())["predictions"]
        assert [p["index"] for p in predictions] == [0, 1, 2, 3]
        images = [Image.open(io.BytesIO(base64.b64decode(p["png"]))) for p in predictions]
        assert all(image.format == "PNG" and image.size == (300, 400) for image in images)  # display-ready
        mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
        local = mlflow.pyfunc.load_model("models:/gig-generator@champion").predict(
            pd.DataFrame([{"articleType": "Watches", "baseColour": "Black", "seed": 7, "count": 4}])
        )
        assert [base64.b64decode(p["png"]) for p in predictions] == list(local["png"])  # same images as in-process
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_racing_register_steps_leave_one_champion(tiny_run, candidates, tmp_path):
    """Two register steps of the same good model start together against a registry whose champion
    is the collapsed model. Run one after the other, the first wins and the second is only as
    good (within the noise), so exactly one of them may take the alias, whichever it is."""
    better, worse, _ = candidates
    base = tiny_run.register_config(tmp_path)
    register(
        tiny_run.register_config(tmp_path, train_dir=worse["train_dir"], evaluate_dir=worse["evaluate_dir"]),
        progress=False,
    )  # v1, the champion to beat

    def command(name: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "gig_core.cli",
            "register",
            "--quiet",  # cwd has no params.yaml: defaults
            "--train-dir",
            better["train_dir"],
            "--evaluate-dir",
            better["evaluate_dir"],
            "--out-dir",
            str(tmp_path / name),
            "--tracking-uri",
            base.tracking_uri,
            "--artifact-dir",
            base.artifact_dir,
            "--catalog-dvc-file",
            base.catalog_dvc_file,
            "--ingest-dir",
            base.ingest_dir,
        ]

    racers = [
        subprocess.Popen(command(name), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name in ("a", "b")
    ]
    for racer in racers:
        _, err = racer.communicate(timeout=600)
        assert racer.returncode == 0, err[-3000:]
    results = [json.loads((tmp_path / name / "registration.json").read_text()) for name in ("a", "b")]
    assert sorted(r["version"] for r in results) == ["2", "3"]
    promoted = [r for r in results if r["promotion"]["promote"]]
    assert len(promoted) == 1, [r["promotion"]["reason"] for r in results]
    refused = next(r for r in results if not r["promotion"]["promote"])
    assert refused["promotion"]["champion_version"] == promoted[0]["version"]  # it lost to the other racer, not to v1

    client = MlflowClient(tracking_uri=base.tracking_uri)
    champion = client.get_model_version_by_alias("gig-generator", "champion")
    assert str(champion.version) == promoted[0]["version"] and champion.status == "READY"
    versions = [
        client.get_model_version("gig-generator", v.version)  # search results carry no aliases
        for v in client.search_model_versions("name='gig-generator'")
    ]
    assert [str(v.version) for v in versions if "champion" in v.aliases] == [promoted[0]["version"]]


def test_register_vetoes_a_challenger_that_ignores_z(tiny_run, tmp_path):
    """Through the real register stage: the champion is the tiny trained generator; the challenger
    is a conditional DCGAN with its noise input cut, so each condition cell gets one image. The
    veto refuses it, and the reason reaches registration.json and the MLflow run. (That such a
    model can have the lower FID is shown on the full sample catalog in test_evaluation_quality.py.)"""
    import torch

    from gig_core.sampling import GeneratorBundle

    train_dir, evaluate_dir = tmp_path / "ignores_z" / "train", tmp_path / "ignores_z" / "evaluate"
    train(tiny_train_config(Path(tiny_run.preprocess.out_dir), train_dir, model="cgan"), progress=False)
    bundle = GeneratorBundle.load(train_dir / "generator.pt")
    with torch.no_grad():
        bundle.generator.body.convs[0].weight[: bundle.arch.z_dim] = 0  # z no longer reaches the images
    bundle.save(train_dir / "generator.pt")
    evaluate(
        type(tiny_run.evaluate)(
            **{**tiny_run.evaluate.__dict__, "train_dir": str(train_dir), "out_dir": str(evaluate_dir)}
        ),
        progress=False,
    )
    assert json.loads((evaluate_dir / "metrics.json").read_text())["within_class_diversity"] == 0.0

    first = register(tiny_run.register_config(tmp_path), progress=False)  # the tiny trained generator
    assert first.aliases == ["challenger", "champion"]
    second = register(
        tiny_run.register_config(
            tmp_path, min_within_class_diversity=0.3, train_dir=str(train_dir), evaluate_dir=str(evaluate_dir)
        ),
        progress=False,
    )
    promotion = second.promotion
    assert not promotion["promote"] and second.aliases == ["challenger"]
    assert promotion["reason"].startswith(
        "within-class diversity 0.000 is below register.min_within_class_diversity 0.3"
    )
    assert promotion["within_class_diversity"] == 0.0
    client = MlflowClient(tracking_uri=tiny_run.register_config(tmp_path).tracking_uri)
    assert client.get_model_version_by_alias("gig-generator", "champion").version == 1
    assert "within-class diversity" in client.get_run(second.run_id).data.tags["promotion_reason"]


def test_an_untrained_model_does_not_become_the_first_champion(tiny_run, tmp_path):
    """With no champion to beat, the precision floor refuses a challenger, and says why in registration.json.

    (On this 24-image held-out split even an initialised generator scores precision 0.8, so the
    floor here is set above it; that the default floor refuses an untrained model on the sample
    catalog is test_evaluation_quality.py's test_precision_floor_refuses_an_untrained_generator.)"""
    from gig_core.registry.promotion import FirstChampionFloor

    assert not decide_promotion(340.0, None, first_floor=FirstChampionFloor(0.0, 0.3)).promote
    assert decide_promotion(40.0, None, first_floor=FirstChampionFloor(0.5, 0.3)).promote

    train_dir, evaluate_dir = tmp_path / "untrained" / "train", tmp_path / "untrained" / "evaluate"
    train(
        tiny_train_config(
            Path(tiny_run.preprocess.out_dir),
            train_dir,
            steps=1,
            sample_every=1,
            log_every=1,
            lr_g=1e-9,
            lr_d=1e-9,
            ema_decay=1.0,
        ),
        progress=False,
    )  # the generator as initialised
    evaluate(
        type(tiny_run.evaluate)(
            **{**tiny_run.evaluate.__dict__, "train_dir": str(train_dir), "out_dir": str(evaluate_dir)}
        ),
        progress=False,
    )
    result = register(
        tiny_run.register_config(
            tmp_path, train_dir=str(train_dir), evaluate_dir=str(evaluate_dir), min_first_champion_precision=1.0
        ),
        progress=False,
    )
    promotion = result.promotion
    assert not promotion["promote"] and result.aliases == ["challenger"]
    assert promotion["reason"].startswith("no champion yet, but precision 0.")
    assert "below register.min_first_champion_precision 1.0" in promotion["reason"]


class ForeignModel(mlflow.pyfunc.PythonModel):
    """An MLflow model that is not GIG's: loading it runs this code."""

    def predict(self, context, model_input, params=None):
        buffer = io.BytesIO()
        Image.new("RGB", (32, 32), "red").save(buffer, format="PNG")
        return pd.DataFrame({"png": [buffer.getvalue()] * int(model_input["count"][0])})


def test_models_are_read_without_running_their_code(registry, tmp_path):
    """A GIG model whose code was tampered with is still read weights-only; a foreign model needs
    --trust-model-code, because loading it runs its code."""
    from gig_core.generate import load_predict
    from gig_core.registry.loading import NotAGigModel
    from gig_core.sampling import GeneratorBundle

    root, _ = registry
    uri = f"sqlite:///{root / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)  # the registry too: download_artifacts(tracking_uri=) does not set it
    source = Path(mlflow.artifacts.download_artifacts("models:/gig-generator/2"))
    tampered = tmp_path / "tampered"
    shutil.copytree(source, tampered)
    marker = tmp_path / "code-ran"
    code = tampered / "model_code.py"
    code.write_text(f"open({str(marker)!r}, 'w').close()\n" + code.read_text())
    predict, inputs = load_predict(str(tampered), uri)
    assert inputs == ["articleType", "baseColour", "seed", "count"] and len(predict(pd.DataFrame([{"count": 2}]))) == 2
    assert not marker.exists()  # the model's code never ran
    mlflow.pyfunc.load_model(str(tampered))
    assert marker.exists()  # ... which loading it the MLflow way would have done
    bundle = GeneratorBundle.load(source / "artifacts" / "generator.pt")
    assert load_predict("models:/gig-generator/2", uri)[1] == [*bundle.arch.vocab, "seed", "count"]

    foreign = tmp_path / "foreign"
    mlflow.pyfunc.save_model(foreign, python_model=ForeignModel(), input_example=pd.DataFrame([{"count": 1}]))
    with pytest.raises(NotAGigModel, match="loading it would run its code: pass --trust-model-code"):
        load_predict(str(foreign), uri)
    trusted, _ = load_predict(str(foreign), uri, trust_model_code=True)
    assert len(trusted(pd.DataFrame([{"count": 3}]))) == 3
    refused = subprocess.run([sys.executable, "-m", "gig_core.cli", "generate", "--model", str(foreign), "--out",
                              str(tmp_path / "g"), "--tracking-uri", uri], capture_output=True, text=True)
    assert refused.returncode == 2 and "--trust-model-code" in refused.stderr
