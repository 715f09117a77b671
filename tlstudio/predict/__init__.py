"""Running a trained or exported model on images, in any of the four formats, and scoring its answers."""
