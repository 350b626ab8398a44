import './base.css';
import './desktop.css'; // issue 15
