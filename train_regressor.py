"""Train the report's mean-chrominance regressor: predict an image's mean a and b from its L."""
import argparse

from common.cli import add_training_args, guarded
from common.engine import train_from_args
from common.metrics import mean_ab_baseline
from common.models import MeanChromaRegressor


@guarded
def main(argv=None):
    parser = add_training_args(argparse.ArgumentParser(description=__doc__), lr=1e-3, out="runs/regressor")
    args = parser.parse_args(argv)
    _, metrics = train_from_args(MeanChromaRegressor, args, "Mean-chroma regressor", extra_metrics=mean_ab_baseline)
    if metrics is None:  # a torchrun rank other than 0
        return
    print(f"mean ab MSE {metrics['test_loss']:.2f} vs {metrics['baseline_mean_ab_mse']:.2f} for always answering "
          f"the training mean; per pixel {metrics['mse_ab']:.2f} vs {metrics['baseline_mse_ab']:.2f}")


if __name__ == "__main__":
    main()
