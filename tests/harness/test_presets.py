"""Presets per dataset (harness/presets/): every module's sections name registered methods and config
fields; a misspelt method or key is an error; the 64x64 datasets get the authors' recipes."""

from __future__ import annotations

import pytest

from harness.data import DATASETS
from harness.errors import UsageError
from harness.presets import preset_modules, presets_for, validate
from harness.runner import default_config
from harness.samplers import HeunGenerator


def test_every_preset_module_names_a_dataset_and_validates():
    modules = preset_modules()
    assert {"digits", "fashion-mnist", "cifar10", "afhqv2-64", "ffhq-64", "imagenet-64"} <= set(modules)
    for dataset, module in modules.items():
        assert dataset in DATASETS.names(), dataset
        assert presets_for(dataset) is module.PRESETS


@pytest.mark.parametrize("presets,needle", [
    ({"gan_onyl": {"g_lr": 1e-4}}, "gan_onyl"),  # misspelt method
    ({"train/dmdd": {"budget_kimg": 5.0}}, "train/dmdd"),  # misspelt method in a per-method train section
    ({"gan_only": {"g_rl": 1e-4}}, "g_rl"),  # misspelt method key
    ({"train": {"budget_kimgs": 5.0}}, "budget_kimgs"),  # misspelt train key
    ({"eval": {"num_sample": 10}}, "num_sample"),
    ({"pretrain": {"kimgs": 1.0}}, "kimgs"),
])
def test_a_preset_naming_no_method_or_field_is_an_error(presets, needle):
    with pytest.raises(UsageError, match=needle):
        validate("some-dataset", presets)


def test_valid_presets_pass():
    presets = {"train": {"budget_kimg": 5.0}, "train/dmd": {"budget_kimg": 1.0}, "gan_only": {"d_width": 8},
               "teacher": {"num_steps": 40}}
    assert validate("x", presets) is presets


@pytest.mark.parametrize("dataset,g_lr,d_lr,batch,ema_kimg,budget_kimg,teacher_steps", [
    ("cifar10", 1e-4, 1e-4, 256, 500.0, 5000.0, 18),
    ("afhqv2-64", 2e-5, 4e-5, 256, 500.0, 10000.0, 40),
    ("ffhq-64", 2e-5, 4e-5, 256, 500.0, 10000.0, 40),
    ("imagenet-64", 8e-6, 4e-5, 512, 50000.0, 10000.0, 40),
])
def test_the_authors_recipe_per_dataset(dataset, g_lr, d_lr, batch, ema_kimg, budget_kimg, teacher_steps):
    """Zyriix/GDD train.sh, per dataset; the teacher at 64x64 is EDM's 40-step Heun (NFE 79)."""
    for method in ("gan_only", "gan_only_frozen"):
        config = default_config(method, dataset)
        assert config.method_config["g_lr"] == g_lr and config.method_config["d_lr"] == d_lr
        assert config.train.batch_size == batch and config.train.ema_halflife_kimg == ema_kimg
        assert config.train.budget_kimg == budget_kimg
    teacher = default_config("teacher", dataset).method_config
    assert teacher == {"num_steps": teacher_steps}
    assert HeunGenerator(None, teacher["num_steps"]).nfe == (79 if teacher_steps == 40 else 35)


@pytest.mark.parametrize("dataset,per_gpu", [("cifar10", 64), ("afhqv2-64", 64), ("ffhq-64", 64), ("imagenet-64", 128)])
def test_gan_loss_images_is_the_authors_per_gpu_batch(dataset, per_gpu):
    """train.sh runs every line on 4 GPUs: the GAN losses sum over --batch / 4 images (issue #23, item 6)."""
    for method in ("gan_only", "gan_only_frozen"):
        config = default_config(method, dataset)
        assert config.method_config["gan_loss_images"] == per_gpu == config.train.batch_size // 4


def test_paper_datasets_run_the_generator_in_bf16_where_the_gpu_supports_it():
    """train.sh --fp16=True (issue #23, item 7): the presets ask for auto; other methods keep fp32."""
    for dataset in ("cifar10", "afhqv2-64", "ffhq-64", "imagenet-64"):
        assert default_config("gan_only", dataset).train.precision == "auto"
        assert default_config("gan_only_frozen", dataset).train.precision == "auto"
        assert default_config("teacher", dataset).train.precision == "fp32"
    assert default_config("gan_only", "digits").train.precision == "fp32"
