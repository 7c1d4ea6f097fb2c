"""The scenes of ../shared/data that tests train and validate on, chosen by what they are.

Tests name scenes (``DetectorTrainConfig.scenes``) instead of taking the first N files of a
sorted listing: the data folder grows (HaGRID full frames, ASL photos), and a listing's head
moves with it.
"""

#: one EgoHands video: 60 egocentric 1280x720 frames with 2-4 hands each (training steps)
EGO = "CARDS_LIVINGROOM_B_T"
#: another EgoHands video of the same task (a validation scene no training image shares)
EGO_VAL = "CARDS_OFFICE_S_B"
