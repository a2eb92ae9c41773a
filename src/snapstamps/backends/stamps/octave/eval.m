function varargout = eval(try_code, catch_code)
  % EVAL  snapstamps Octave compatibility wrapper: a string starting with '!' is a shell
  % command (MATLAB's shell escape, which Octave lacks) and goes to system(); anything else is
  % evaluated in the caller's workspace, as the built-in eval does.
  code = strtrim(try_code);
  if ~isempty(code) && code(1) == '!'
    status = system(code(2:end));
    if nargout >= 1
      varargout{1} = status;
    end
    return;
  end
  if nargout > 0
    if nargin > 1
      [varargout{1:nargout}] = evalin('caller', try_code, catch_code);
    else
      [varargout{1:nargout}] = evalin('caller', try_code);
    end
  elseif nargin > 1
    evalin('caller', try_code, catch_code);
  else
    evalin('caller', try_code);
  end
end
