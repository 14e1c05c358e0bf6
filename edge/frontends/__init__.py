"""Front ends, one per modality: the same code turns sensor data into model inputs for training,
int8 calibration and the device. Speech: `edge.frontends.speech`."""
