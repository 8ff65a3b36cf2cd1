"""DeepMask for SelfDeepMask: modeling, patch sampling, training engine, inference.

* config     -- ModelConfig (trunk presets), SamplerConfig, TrainConfig, InferenceConfig
* trunks     -- SmallTrunk (CPU) and ResNet50Trunk (to the stride-16 stage), no torchvision
* model      -- DeepMask (fully convolutional: patches or whole images)
* checkpoint -- save_model / load_model with checks that name what does not fit
* data       -- COCO sets loaded at the working width
* sampler    -- positive/negative patches with jitter, flip and rotation
* mixing     -- MixingSampler: several sets (simulated scenes, real photos) at fixed shares of each batch
* losses     -- soft-margin losses, bootstrapping and noisy-label weights
* noise      -- noisy-label methods as a registry of named functions (Table III)
* engine     -- TrainerBase (the loop, hooks, state of any number of models) and Trainer (DeepMask's step)
* hooks      -- progress, checkpoint, evaluation hooks
* coteaching -- CoTeachingTrainer: two networks selecting samples for each other
* distributed -- DDP under torchrun (python -m pushseg)
* recipes    -- pretrain / finetune as functions taking the trainer class
* inference  -- Segmenter: multi-scale sliding window, paste, max-area filter, NMS
"""

from pushseg.training.checkpoint import PRETRAINED_PATH, load_model, save_model
from pushseg.training.config import InferenceConfig, ModelConfig, SamplerConfig, TrainConfig
from pushseg.training.inference import Detection, Segmenter
from pushseg.training.model import DeepMask

__all__ = [
    "PRETRAINED_PATH", "load_model", "save_model", "InferenceConfig", "ModelConfig", "SamplerConfig",
    "TrainConfig", "Detection", "Segmenter", "DeepMask",
]
