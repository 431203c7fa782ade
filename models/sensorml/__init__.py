"""The training side's library: drive the sensor binary (simulate, extract, replay, sign), train and
export models that honour the sensor's model contract, choose thresholds, evaluate and report.

Every feature table comes from `sensor extract`, the serving code; nothing here re-implements a feature.
"""
